// Parses every Mermaid diagram it is given with Mermaid's own parser (the
// one GitHub and GitLab run), and fails naming the file and diagram that
// does not parse. A Markdown file gives each of its ```mermaid blocks; any
// other file is one diagram.
//
//   node check.mjs FILE...
//
// Mermaid sanitises labels with DOMPurify, which needs a DOM: jsdom stands
// in for the browser.
import { JSDOM } from 'jsdom';
import { readFileSync } from 'node:fs';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });

let failed = 0;
let parsed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, 'utf8');
  const blocks = file.endsWith('.md')
    ? [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1])
    : [text];
  if (blocks.length === 0) {
    failed++;
    console.error(`${file}: no Mermaid diagram`);
  }
  for (const [i, block] of blocks.entries()) {
    try {
      const result = await mermaid.parse(block);
      parsed++;
      console.log(`${file} diagram ${i + 1}: ${result.diagramType}`);
    } catch (e) {
      failed++;
      console.error(`${file} diagram ${i + 1}: ${String(e.message || e)}`);
    }
  }
}
console.log(`${parsed} diagram(s) parsed, ${failed} failed`);
process.exit(failed ? 1 : 0);
