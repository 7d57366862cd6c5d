// One process of the budget concurrency test: reserves, waits a little, then settles (at 50 to
// 100 % of the worst case) or releases, again and again, against a shared STATE/router.db.
//   node test/helpers/budget-worker.ts STATE_DIR ATTEMPTS CONFIG_JSON
// Prints { granted, refused }.
import { Budget, BudgetError, openRouterDb } from '../../src/models/budget.ts';

const [dir, attempts, config] = process.argv.slice(2);
const db = openRouterDb(dir!);
const budget = new Budget(db, JSON.parse(config!));
let granted = 0;
let refused = 0;
for (let i = 0; i < Number(attempts); i++) {
  try {
    const r = budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000);
    granted++;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
    if (Math.random() < 0.2) budget.release(r);
    else budget.settle(r, 'anthropic', 'claude-sonnet-4-5', 1000, Math.floor(500 + Math.random() * 500));
  } catch (error) {
    if (!(error instanceof BudgetError)) throw error;
    refused++;
  }
}
db.close();
process.stdout.write(`${JSON.stringify({ granted, refused })}\n`);
