import { ContainerModule } from 'inversify';
import { BaseModelPlugin, DatasetPlugin, StrategyPlugin } from '@thaw/core';
import { FromRunBaseModel } from './base-models/from-run.js';
import { LayersModelBase } from './base-models/layers-model.js';
import { MobileNetV1Base } from './base-models/mobilenet-v1.js';
import { MobileNetV2Base } from './base-models/mobilenet-v2.js';
import { SmallConvnet } from './base-models/small-convnet.js';
import { FashionMnistDataset } from './datasets/fashion-mnist/fashion-mnist-dataset.js';
import { ImageFolderDataset } from './datasets/image-folder/image-folder-dataset.js';
import { CsvDataset } from './datasets/csv/csv-dataset.js';
import { FeatureExtractionStrategy, FineTuneStrategy } from './strategies/fine-tune-strategy.js';
import { GradualUnfreezeStrategy } from './strategies/gradual-unfreeze-strategy.js';
import { TransferNStrategy } from './strategies/transfer-n-strategy.js';

/** thaw's built-in base models, strategies and datasets. */
export const pluginsModule = new ContainerModule(({ bind }) => {
  bind(SmallConvnet).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(SmallConvnet);
  bind(FromRunBaseModel).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(FromRunBaseModel);
  bind(LayersModelBase).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(LayersModelBase);
  bind(MobileNetV2Base).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(MobileNetV2Base);
  bind(MobileNetV1Base).toSelf().inSingletonScope();
  bind(BaseModelPlugin).toService(MobileNetV1Base);
  bind(FineTuneStrategy).toSelf().inSingletonScope();
  bind(StrategyPlugin).toService(FineTuneStrategy);
  bind(FeatureExtractionStrategy).toSelf().inSingletonScope();
  bind(StrategyPlugin).toService(FeatureExtractionStrategy);
  bind(GradualUnfreezeStrategy).toSelf().inSingletonScope();
  bind(StrategyPlugin).toService(GradualUnfreezeStrategy);
  bind(TransferNStrategy).toSelf().inSingletonScope();
  bind(StrategyPlugin).toService(TransferNStrategy);
  bind(FashionMnistDataset).toSelf().inSingletonScope();
  bind(DatasetPlugin).toService(FashionMnistDataset);
  bind(ImageFolderDataset).toSelf().inSingletonScope();
  bind(DatasetPlugin).toService(ImageFolderDataset);
  bind(CsvDataset).toSelf().inSingletonScope();
  bind(DatasetPlugin).toService(CsvDataset);
});

export default pluginsModule;
