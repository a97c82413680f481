import { memoryEngine } from 'trpc-pubsub';
import { describeEngineContract } from './engine-contract.js';

describeEngineContract('memory engine (one process)', {
  history: true,
  instances: 1,
  createEngine: () => memoryEngine(),
});
