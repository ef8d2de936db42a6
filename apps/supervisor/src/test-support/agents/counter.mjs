// Counts up, saving the count as agent state after every step, so a restart resumes there.
import { AgentStateClient } from '@warden/sdk';

const state = new AgentStateClient();
let count = (await state.load())?.count ?? 0;
process.stdout.write(`resuming at ${count}\n`);
for (;;) {
  count++;
  await state.save({ count });
  await new Promise((r) => setTimeout(r, 30));
}
