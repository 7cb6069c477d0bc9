import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AppConfig } from './config.schema';
import { APP_CONFIG, ConfigModule, InjectConfig } from './config.module';
import { defaultConfig } from './default-config';

@Injectable()
class NeedsConfig {
  constructor(@InjectConfig() readonly config: AppConfig) {}
}

@Module({ providers: [NeedsConfig] })
class FeatureModule {}

describe('ConfigModule', () => {
  it('provides the validated config globally under APP_CONFIG', async () => {
    const config = defaultConfig('/srv', {});
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), FeatureModule],
    }).compile();
    expect(moduleRef.get(NeedsConfig).config).toBe(config);
    expect(moduleRef.get(APP_CONFIG)).toBe(config);
  });
});
