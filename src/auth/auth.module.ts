/**
 * AuthModule: who is asking. JWT (passport-jwt, JWKS) and SigV4 with gateway-issued keys, chosen
 * per route by AuthenticateGuard; the result is a Principal on the request context. It never
 * decides what a principal may do (that is authz) and never touches a backend.
 */
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AuthenticateGuard } from './authenticate.guard';
import { JwtAuthService } from './jwt/jwt-auth.service';
import { ReplayStores } from './replay-store';
import { SigV4AuthService } from './sigv4-auth.service';

/** One set of replay stores per app, closed with it. */
@Injectable()
class ReplayStoresProvider extends ReplayStores implements OnApplicationShutdown {
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }
}

@Module({
  providers: [
    AuthenticateGuard,
    SigV4AuthService,
    JwtAuthService,
    { provide: ReplayStores, useClass: ReplayStoresProvider },
  ],
  exports: [AuthenticateGuard, SigV4AuthService, JwtAuthService, ReplayStores],
})
export class AuthModule {}
