// fixtures.mjs - the fleets and stacks the end-to-end tests share.
import { Stack } from './stack.mjs';

// Three nodes; Server-XYZ on Node-A with two players, a world the simulated sync takes a
// few seconds to copy.
export const FLEET = {
  nodes: [
    { id: 'n1', name: 'Node-A', eur_hour: 0.40, ram_total_mb: 65536, disk_total_mb: 500000 },
    { id: 'n2', name: 'Node-B', eur_hour: 0.25, ram_total_mb: 65536, disk_total_mb: 500000 },
    { id: 'n3', name: 'Node-C', eur_hour: 0.25, ram_total_mb: 131072, disk_total_mb: 800000 },
  ],
  servers: [
    { id: 's1', name: 'Server-XYZ', node_id: 'n1', ram_mb: 4096, disk_mb: 2500, write_mb_s: 0.2, players: 2 },
    { id: 's2', name: 'Server-Two', node_id: 'n1', ram_mb: 2048, disk_mb: 1000, players: 0 },
    { id: 's3', name: 'Server-Three', node_id: 'n2', ram_mb: 2048, disk_mb: 1000, players: 1 },
  ],
};

// The whole system around FLEET, quick: the scheduler looks every 200 ms and wants a
// second of idleness; the simulated world copies at five times real speed. `worker`
// adds to the worker's settings.
export function lifecycleStack(fleet = FLEET, { worker = {} } = {}) {
  return new Stack({
    sim: { fleet, env: { MIG_SIM_SPEED: '5' } },
    scheduler: { MIG_IDLE_S: '1', MIG_TICK_MS: '200' },
    worker: { MIG_POLL_MS: '100', MIG_LEASE_MS: '5000', MIG_COOLDOWN_S: '5', MIG_RETRY_BACKOFF_MS: '500', ...worker },
  });
}
