// Evaluate a flagd flag-definition document with flagd's JavaScript in-process evaluator.
// Usage: node evaluate.mjs FLAGS.json CASES.json
// CASES.json: [[flag, context, seconds since the epoch], ...]; an absent attribute is absent.
// stdout: a JSON array with one [compiled, interpreted] pair per case, in order, each
// answer [value, variant, reason, errorCode].
//
// compiled: @openfeature/flagd-provider with resolverType "in-process" reading the file
// (offlineFlagSourcePath: no flagd daemon), asked through @openfeature/server-sdk. Its
// evaluator, @openfeature/flagd-core, compiles each targeting with json-logic-engine.
// interpreted: @openfeature/flagd-core itself with disableDynamicCodeGeneration, the mode
// for runtimes without new Function() (edge functions), which interprets the JsonLogic.
// Both ask with a permissive default (true), so an error shows as a wrong value.
// flagd-core reads $flagd.timestamp as Math.floor(Date.now() / 1000): Date.now is set
// to each case's second.
import { OpenFeature } from "@openfeature/server-sdk";
import { FlagdProvider } from "@openfeature/flagd-provider";
import { FlagdCore } from "@openfeature/flagd-core";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const [flagsPath, casesPath] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesPath, "utf8"));

// Logs go to stderr: stdout carries only the answers.
const log = (...parts) => process.stderr.write(`${parts.join(" ")}\n`);
const logger = { error: log, warn: log, info: () => {}, debug: () => {} };

const provider = new FlagdProvider(
  { resolverType: "in-process", offlineFlagSourcePath: resolve(flagsPath) },
  logger,
);
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();

const interpreter = new FlagdCore(undefined, logger, { disableDynamicCodeGeneration: true });
interpreter.setConfigurations(readFileSync(flagsPath, "utf8"));

const answer = (details) => [
  details.value ?? null,
  details.variant ?? null,
  details.reason ?? null,
  details.errorCode ?? null,
];

const realNow = Date.now;
const answers = [];
try {
  for (const [flag, context, seconds] of cases) {
    Date.now = () => seconds * 1000;
    const compiled = await client.getBooleanDetails(flag, true, context);
    const interpreted = interpreter.resolveBooleanEvaluation(flag, true, context);
    answers.push([answer(compiled), answer(interpreted)]);
  }
} finally {
  Date.now = realNow;
}
await OpenFeature.close();
process.stdout.write(JSON.stringify(answers));
