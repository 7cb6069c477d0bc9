/** HealthModule: /health/live and /health/ready through @nestjs/terminus. */
import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { BackendHealthIndicator } from './backend.health';
import { HealthController } from './health.controller';
import { DetailsHealthIndicator } from './details.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController],
  providers: [BackendHealthIndicator, DetailsHealthIndicator],
})
export class HealthModule {}
