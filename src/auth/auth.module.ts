/**
 * AuthModule: who is asking. JWT (passport-jwt, JWKS) and SigV4 with gateway-issued keys, chosen
 * per route by AuthenticateGuard; the result is a Principal on the request context. It never
 * decides what a principal may do (that is authz) and never touches a backend.
 */
import {
  type DynamicModule,
  Global,
  Injectable,
  Module,
  type OnApplicationShutdown,
  type Type,
} from '@nestjs/common';
import { AuthenticateGuard } from './authenticate.guard';
import { AUTHENTICATORS, type Authenticator } from './authenticator';
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

/** Options of AuthModule.register. */
export interface AuthModuleOptions {
  /** Custom authenticators by the name routes select them with (`auth.custom`). */
  authenticators?: Record<string, Type<Authenticator>>;
}

@Global()
@Module({})
export class AuthModule {
  /** The module with JWT, SigV4 and the given custom authenticators. */
  static register(options: AuthModuleOptions = {}): DynamicModule {
    const custom = Object.entries(options.authenticators ?? {});
    const classes = custom.map(([, cls]) => cls);
    return {
      module: AuthModule,
      providers: [
        AuthenticateGuard,
        SigV4AuthService,
        JwtAuthService,
        { provide: ReplayStores, useClass: ReplayStoresProvider },
        ...classes,
        {
          provide: AUTHENTICATORS,
          inject: classes,
          useFactory: (...instances: Authenticator[]) =>
            new Map(custom.map(([name], i): [string, Authenticator] => [name, instances[i]])),
        },
      ],
      exports: [AuthenticateGuard, SigV4AuthService, JwtAuthService, ReplayStores, AUTHENTICATORS],
    };
  }
}
