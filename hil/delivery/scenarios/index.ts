/**
 * The delivery scenarios, in the order they run. Each builds a rig, does its damage, heals,
 * drains, and judges the histories with the total-queue checker; sizes come from
 * {@link DeliverySizes} (CI or soak). Every loop is bounded in count and in time.
 */
import { agentKills } from './agent-kills.js';
import { backlogDrain } from './backlog.js';
import { combinedFaults } from './combined.js';
import type { Scenario } from './common.js';
import { diskEnospc, diskQuota } from './disk-full.js';
import { hubRestarts } from './hub-restarts.js';
import { networkFaults } from './network-faults.js';
import { clockJumps, fsyncEio } from './storage-and-clock.js';

export {
  CI_SIZES,
  SOAK_SIZES,
  type DeliverySizes,
  type Scenario,
  type ScenarioResult,
} from './common.js';

export const SCENARIOS: Scenario[] = [
  agentKills,
  networkFaults,
  hubRestarts,
  combinedFaults,
  diskQuota,
  diskEnospc,
  fsyncEio,
  clockJumps,
  backlogDrain,
];
