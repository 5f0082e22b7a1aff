#!/usr/bin/env node
// Compile contracts/KinkoToken.sol with the pinned solc-js and write
// src/kinko/chains/kinko_token.json = {contract, solc_version, abi, bytecode}.
//
// The JSON is committed so kinko (its demo and tests) runs without node; this script
// regenerates it. With --check it writes nothing and exits 1 if the committed file differs
// from a fresh compile (a test runs that, so the two cannot drift apart).
//
//   node scripts/compile_token.mjs           # write the JSON
//   node scripts/compile_token.mjs --check   # compare only
//
// The settings are fixed so a compile is reproducible: optimizer on (200 runs) and
// evmVersion "paris" (no PUSH0 or other post-merge opcodes), which both eth-tester's py-evm
// and anvil run.

import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const solc = require("solc");

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = "contracts/KinkoToken.sol";
const CONTRACT = "KinkoToken";
const ARTIFACT = "src/kinko/chains/kinko_token.json";
const OUTPUT = join(ROOT, ARTIFACT);

function compile() {
  const input = {
    language: "Solidity",
    sources: { [SOURCE]: { content: readFileSync(join(ROOT, SOURCE), "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "paris",
      outputSelection: { [SOURCE]: { [CONTRACT]: ["abi", "evm.bytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const problems = output.errors ?? [];
  for (const p of problems) {
    process.stderr.write(p.formattedMessage ?? `${p.severity}: ${p.message}\n`);
  }
  if (problems.some((p) => p.severity === "error")) {
    process.exit(2);
  }
  const compiled = output.contracts[SOURCE][CONTRACT];
  const artifact = {
    contract: CONTRACT,
    solc_version: solc.version(),
    abi: compiled.abi,
    bytecode: "0x" + compiled.evm.bytecode.object,
  };
  return JSON.stringify(artifact, null, 2) + "\n";
}

const fresh = compile();
if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(OUTPUT, "utf8");
  } catch {
    // missing: reported as a difference below
  }
  if (committed !== fresh) {
    process.stderr.write(
      `${ARTIFACT} differs from a fresh compile of ${SOURCE}: ` +
        "run `node scripts/compile_token.mjs` and commit the result\n",
    );
    process.exit(1);
  }
  process.stdout.write(`${ARTIFACT} matches ${SOURCE} (solc ${solc.version()})\n`);
} else {
  writeFileSync(OUTPUT, fresh);
  process.stdout.write(`wrote ${ARTIFACT} (solc ${solc.version()})\n`);
}
