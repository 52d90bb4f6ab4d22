import { ContainerModule } from 'inversify';
import { AugmentStage, BuildStage, EvaluateStage, FreezeStage, LoadStage, TrainStage, TrialPlanner, TrialRecorder } from '@thaw/contracts';
import { ModelInspection, ModelInspectionImpl } from './pipeline/model-inspection.js';
import { TrialPipeline, TrialPipelineImpl } from './pipeline/trial-pipeline.js';
import { PluginRegistry, PluginRegistryImpl } from './plugins/plugin-registry.js';
import { SweepRunner, SweepRunnerImpl } from './sweep/sweep-runner.js';
import { AugmentStageImpl } from './stages/augment-stage-impl.js';
import { BuildStageImpl } from './stages/build-stage-impl.js';
import { EvaluateStageImpl } from './stages/evaluate-stage-impl.js';
import { FreezeStageImpl } from './stages/freeze-stage-impl.js';
import { LoadStageImpl } from './stages/load-stage-impl.js';
import { TrainStageImpl } from './stages/train-stage-impl.js';
import { TrackingRecorder } from './tracking/tracking-recorder.js';
import { TrialPlannerImpl } from './planning/trial-planner-impl.js';

/**
 * The planner, the default stages, the pipeline, the plugin registry and the tracking recorder. A plugin
 * module loaded after this one may `rebind` any stage. The Tracker and Logger are bound by
 * whoever creates the container (the CLI, a test).
 */
export const coreModule = new ContainerModule(({ bind }) => {
  bind(PluginRegistryImpl).toSelf().inSingletonScope();
  bind(PluginRegistry).toService(PluginRegistryImpl);
  bind(LoadStageImpl).toSelf().inSingletonScope();
  bind(LoadStage).toService(LoadStageImpl);
  bind(AugmentStageImpl).toSelf().inSingletonScope();
  bind(AugmentStage).toService(AugmentStageImpl);
  bind(BuildStageImpl).toSelf().inSingletonScope();
  bind(BuildStage).toService(BuildStageImpl);
  bind(FreezeStageImpl).toSelf().inSingletonScope();
  bind(FreezeStage).toService(FreezeStageImpl);
  bind(TrainStageImpl).toSelf().inSingletonScope();
  bind(TrainStage).toService(TrainStageImpl);
  bind(EvaluateStageImpl).toSelf().inSingletonScope();
  bind(EvaluateStage).toService(EvaluateStageImpl);
  bind(TrialPipelineImpl).toSelf().inSingletonScope();
  bind(TrialPipeline).toService(TrialPipelineImpl);
  bind(SweepRunnerImpl).toSelf().inSingletonScope();
  bind(SweepRunner).toService(SweepRunnerImpl);
  bind(ModelInspectionImpl).toSelf().inSingletonScope();
  bind(ModelInspection).toService(ModelInspectionImpl);
  bind(TrackingRecorder).toSelf().inSingletonScope();
  bind(TrialRecorder).toService(TrackingRecorder);
  bind(TrialPlannerImpl).toSelf().inSingletonScope();
  bind(TrialPlanner).toService(TrialPlannerImpl);
});
