import { memoryEngine } from 'trpc-pubsub';
import { describeEngineContract } from './engine-contract.js';

describeEngineContract('memory engine (one process)', {
  instances: 1,
  createEngine: () => memoryEngine(),
});
