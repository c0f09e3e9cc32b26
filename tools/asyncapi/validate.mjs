#!/usr/bin/env node
// Validates an AsyncAPI document with the official parser, the same one AsyncAPI's own tooling uses.
//
//   node tools/asyncapi/validate.mjs contracts/asyncapi.yaml
//
// Prints every diagnostic with its severity and exits 1 if any is an error; otherwise prints a
// one-line summary. The file is read through `fromFile`, which passes its path to the parser as
// `source`: that is what lets relative `$ref`s such as `./schemas/unit.v1.json` resolve against the
// document's own folder rather than the working directory.
import path from 'node:path';
import process from 'node:process';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';

const SEVERITY = {
  [DiagnosticSeverity.Error]: 'error',
  [DiagnosticSeverity.Warning]: 'warning',
  [DiagnosticSeverity.Information]: 'info',
  [DiagnosticSeverity.Hint]: 'hint',
};

async function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node validate.mjs <asyncapi-document>');
    return 2;
  }
  const file = path.resolve(argv[0]);
  const parser = new Parser();
  const { document, diagnostics } = await fromFile(parser, file).parse();

  for (const d of diagnostics) {
    const where = d.path && d.path.length > 0 ? d.path.join('.') : '(document)';
    // Ranges are 0-based; print them 1-based like an editor does.
    const line = d.range ? `:${d.range.start.line + 1}:${d.range.start.character + 1}` : '';
    const origin = d.source && d.source !== file ? path.relative(process.cwd(), d.source) : path.relative(process.cwd(), file);
    console.log(`${SEVERITY[d.severity] ?? `severity ${d.severity}`}\t${origin}${line}\t${d.code}\t${where}\t${d.message}`);
  }

  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).length;
  if (errors > 0 || document === undefined) {
    console.error(`${argv[0]}: INVALID (${errors} error(s), ${diagnostics.length} diagnostic(s))`);
    return 1;
  }

  const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).length;
  console.log(
    `${argv[0]}: valid AsyncAPI ${document.version()} — ` +
      `${document.channels().length} channel(s), ${document.operations().length} operation(s), ` +
      `${document.messages().length} message(s), ${warnings} warning(s)`,
  );
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
