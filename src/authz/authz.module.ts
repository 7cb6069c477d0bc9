/**
 * AuthzModule: what a principal may do. One AuthzProvider interface; OPA and OpenFGA built in,
 * custom providers registered by name:
 *
 *   AuthzModule.register({ providers: { quota: QuotaProvider } })   // then `authz.provider: quota`
 *
 * A provider class may inject anything the app provides. The guard, cache and fail mode apply to
 * all providers alike. This module never authenticates and never touches a backend.
 */
import { type DynamicModule, Global, Module, type Type } from '@nestjs/common';
import { AuthzGuard } from './authz.guard';
import type { AuthzProvider } from './authz-provider';
import { AUTHZ_PROVIDERS, AuthzService } from './authz.service';
import { OpaProvider } from './opa/opa.provider';
import { OpenFgaProvider } from './openfga/openfga.provider';

/** Options of AuthzModule.register. */
export interface AuthzModuleOptions {
  /** Custom providers by the name routes select them with. */
  providers?: Record<string, Type<AuthzProvider>>;
}

@Global()
@Module({})
export class AuthzModule {
  /** The module with the built-in providers plus `options.providers`. */
  static register(options: AuthzModuleOptions = {}): DynamicModule {
    const custom = Object.entries(options.providers ?? {});
    for (const [name] of custom) {
      if (name === 'opa' || name === 'openfga') {
        throw new Error(`the authz provider name '${name}' is taken by a built-in provider`);
      }
    }
    const classes = custom.map(([, cls]) => cls);
    return {
      module: AuthzModule,
      providers: [
        OpaProvider,
        OpenFgaProvider,
        ...classes,
        {
          provide: AUTHZ_PROVIDERS,
          inject: [OpaProvider, OpenFgaProvider, ...classes],
          useFactory: (opa: AuthzProvider, openfga: AuthzProvider, ...instances: AuthzProvider[]) =>
            new Map<string, AuthzProvider>([
              ['opa', opa],
              ['openfga', openfga],
              ...custom.map(([name], i): [string, AuthzProvider] => [name, instances[i]]),
            ]),
        },
        AuthzService,
        AuthzGuard,
      ],
      exports: [AuthzService, AuthzGuard, AUTHZ_PROVIDERS],
    };
  }
}
