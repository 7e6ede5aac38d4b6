// Ask a geogate OFREP server through OpenFeature's JavaScript server SDK and OFREP provider.
// stdin: {"baseUrl": "http://127.0.0.1:PORT", "cases": [{"flag", "context", "default"}, ...]}
// stdout: a JSON array, one evaluation details object per case, in order.
import { OpenFeature } from "@openfeature/server-sdk";
import { OFREPProvider } from "@openfeature/ofrep-provider";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));

await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: request.baseUrl }));
const client = OpenFeature.getClient();
const answers = [];
for (const { flag, context, default: fallback } of request.cases) {
  const details = await client.getBooleanDetails(flag, fallback, context);
  answers.push({
    value: details.value,
    variant: details.variant ?? null,
    reason: details.reason ?? null,
    errorCode: details.errorCode ?? null,
    errorMessage: details.errorMessage ?? null,
    flagMetadata: details.flagMetadata ?? {},
  });
}
await OpenFeature.close();
process.stdout.write(JSON.stringify(answers));
