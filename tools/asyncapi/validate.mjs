#!/usr/bin/env node
// Validates an AsyncAPI document with the official parser, the same one AsyncAPI's own tooling uses.
//
//   node tools/asyncapi/validate.mjs contracts/asyncapi.yaml
//
// Prints every diagnostic with its severity and exits 1 if any is an error; otherwise prints a
// one-line summary. The file is read through `fromFile`, which passes its path to the parser as
// `source`: that is what lets relative `$ref`s such as `./schemas/unit.v1.json` resolve against the
// document's own folder rather than the working directory.
//
// When an `examples/` folder sits beside the document, every message's payload schema (resolved by
// the parser, data schemas included) must accept the example of its type,
// `examples/<kind>.<action>.json` (the type is the message's AMQP `messageType`), and every example
// must belong to a message: so the document's per-action pins (`current: null` on `expired`, …)
// are checked against real events, not only parsed.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const TYPE = /^dk\.orghub\.org\.([a-z]+)\.([a-z]+)\.v[0-9]+$/;

// Returns one line per problem: an example a message's payload schema refuses, a message without
// an example, an example without a message.
function checkExamples(document, dir) {
  const problems = [];
  const files = new Set(fs.readdirSync(dir).filter((f) => f.endsWith('.json')));
  for (const message of document.messages().all()) {
    const type = message.json().bindings?.amqp?.messageType ?? '';
    const match = type.match(TYPE);
    if (!match) {
      problems.push(`message ${message.id()}: no AMQP messageType of the form dk.orghub.org.<kind>.<action>.v1`);
      continue;
    }
    const file = `${match[1]}.${match[2]}.json`;
    if (!files.delete(file)) {
      problems.push(`message ${message.id()}: no example ${file}`);
      continue;
    }
    // A fresh validator per message: the data schemas' `$id`s repeat across messages.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addFormat('uint64', { type: 'number', validate: (n) => Number.isInteger(n) && n >= 0 });
    const validate = ajv.compile(message.payload().json());
    const example = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (!validate(example)) {
      for (const e of validate.errors) {
        problems.push(`examples/${file}: refused by message ${message.id()}: ${e.instancePath || '(root)'} ${e.message}`);
      }
    }
  }
  for (const file of files) {
    problems.push(`examples/${file}: no message has its type`);
  }
  return problems;
}

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

  const examples = path.join(path.dirname(file), 'examples');
  if (fs.existsSync(examples)) {
    const problems = checkExamples(document, examples);
    for (const p of problems) {
      console.log(`error\t${p}`);
    }
    if (problems.length > 0) {
      console.error(`${argv[0]}: ${problems.length} example problem(s)`);
      return 1;
    }
    console.log(`${argv[0]}: every message accepts its example in ${path.relative(process.cwd(), examples)}/`);
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
