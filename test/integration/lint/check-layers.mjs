// Lints snippets with only the dependency-rule part of eslint.config.mjs (no type information needed).
// Input on stdin: [{ "filePath": "...", "code": "..." }]; output: the rule messages per snippet.
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { layers } from '../../../eslint.config.mjs';

const cases = JSON.parse(
  await new Promise((resolve) => {
    let data = '';
    process.stdin.on('data', (c) => (data += c));
    process.stdin.on('end', () => resolve(data));
  }),
);
const eslint = new ESLint({
  cwd: new URL('../../..', import.meta.url).pathname,
  overrideConfigFile: true,
  overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...layers],
});
const out = [];
for (const c of cases) {
  const [result] = await eslint.lintText(c.code, { filePath: c.filePath });
  out.push(result.messages.map((m) => m.message));
}
process.stdout.write(JSON.stringify(out));
