// The same cases as the browser suite, run in Node on the adapter AMRM_ADAPTER names.
import { runCases, describeAdapter } from './cases.js';

const adapter = await describeAdapter();
process.stdout.write(JSON.stringify({ adapter, results: await runCases() }));
process.exit(0);
