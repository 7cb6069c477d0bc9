/**
 * AuthModule: who is asking. JWT (passport-jwt, JWKS) and SigV4 with gateway-issued keys, chosen
 * per route by AuthenticateGuard; the result is a Principal on the request context. It never
 * decides what a principal may do (that is authz) and never touches a backend.
 */
import { Module } from '@nestjs/common';
import { AuthenticateGuard } from './authenticate.guard';
import { JwtAuthService } from './jwt/jwt-auth.service';
import { MemoryReplayStore, ReplayStore } from './replay-store';
import { SigV4AuthService } from './sigv4-auth.service';

@Module({
  providers: [
    AuthenticateGuard,
    SigV4AuthService,
    JwtAuthService,
    { provide: ReplayStore, useFactory: () => new MemoryReplayStore() },
  ],
  exports: [AuthenticateGuard, SigV4AuthService, JwtAuthService, ReplayStore],
})
export class AuthModule {}
