import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  dtmiToPath,
  generateTypeScript,
  isValidDtmi,
  parse,
  parseWithResolver,
  type Diagnostic,
  type ParseResult,
} from '@plugboard/dtdl';
import { createFsDmrResolver } from '@plugboard/dtdl/fs';
import { CliError } from './client.js';

/** JSON files named by the arguments (directories are searched recursively). */
export function modelFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) throw new CliError('CLI_INVALID_ARGUMENT', `${path} does not exist.`);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path).sort()) {
        if (name === 'node_modules' || name.startsWith('.')) continue;
        const child = join(path, name);
        if (statSync(child).isDirectory() || extname(name) === '.json') walk(child);
      }
    } else out.push(path);
  };
  for (const path of paths) walk(path);
  return out;
}

async function parseFiles(files: readonly string[], repo: string | undefined): Promise<ParseResult> {
  const texts = files.map((f) => readFileSync(f, 'utf8'));
  return repo === undefined ? parse(texts) : parseWithResolver(texts, { resolver: createFsDmrResolver(resolve(repo)) });
}

function where(files: readonly string[], d: Diagnostic): string {
  const loc = d.location;
  if (loc === undefined) return '(model)';
  const file = files[loc.documentIndex] ?? '(resolved dependency)';
  return loc.line === undefined ? `${file}#${loc.pointer}` : `${file}:${loc.line}:${loc.column ?? 1}`;
}

/**
 * `plugboard model validate|resolve|codegen`.
 *
 * @example
 * registerModelCommands(program, process.stdout);
 */
export function registerModelCommands(program: Command, out: NodeJS.WritableStream): void {
  const model = program
    .command('model')
    .description('DTDL models: validate, resolve from a repository, generate TypeScript.');

  model
    .command('validate')
    .description('Validate DTDL files (one model set); exits 1 when there are errors or unresolved references.')
    .argument('<paths...>', 'JSON files or directories')
    .option('--repo <dir>', 'a Device Models Repository checkout to resolve missing DTMIs from')
    .option('--json', 'JSON output', false)
    .action(async (paths: string[], opts: { repo?: string; json: boolean }) => {
      const files = modelFiles(paths);
      const result = await parseFiles(files, opts.repo);
      if (opts.json) {
        out.write(
          `${JSON.stringify({ ok: result.ok, files, errors: result.errors, warnings: result.warnings, unresolved: result.unresolved }, null, 2)}\n`,
        );
      } else {
        for (const d of result.errors) out.write(`${where(files, d)}: error ${d.code}: ${d.message}\n`);
        for (const d of result.warnings) out.write(`${where(files, d)}: warning ${d.code}: ${d.message}\n`);
        for (const dtmi of result.unresolved) out.write(`unresolved: ${dtmi} (pass --repo DIR)\n`);
        out.write(
          `${files.length} file(s): ${result.errors.length} error(s), ${result.warnings.length} warning(s), ${result.unresolved.length} unresolved\n`,
        );
      }
      if (!result.ok) process.exitCode = 1;
    });

  model
    .command('resolve')
    .description('Resolve a DTMI and its dependencies from a Device Models Repository.')
    .argument('<dtmi>', 'the model id, e.g. dtmi:com:example:TemperatureController;1')
    .requiredOption('--repo <dir>', 'the repository checkout')
    .option('--json', 'JSON output', false)
    .action(async (dtmi: string, opts: { repo: string; json: boolean }) => {
      if (!isValidDtmi(dtmi)) throw new CliError('CLI_INVALID_ARGUMENT', `${dtmi} is not a valid DTMI.`);
      const repo = resolve(opts.repo);
      const path = join(repo, dtmiToPath(dtmi));
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (cause) {
        throw new CliError('CLI_INVALID_ARGUMENT', `${dtmi} is not in ${repo} (looked for ${path}).`, { cause });
      }
      const result = await parseWithResolver([text], { resolver: createFsDmrResolver(repo) });
      const interfaces = result.model === undefined ? [] : [...result.model.roots];
      const value = { dtmi, path, ok: result.ok, interfaces, errors: result.errors, unresolved: result.unresolved };
      if (opts.json) out.write(`${JSON.stringify(value, null, 2)}\n`);
      else {
        for (const id of interfaces) out.write(`${id}\t${join(repo, dtmiToPath(id))}\n`);
        for (const d of result.errors) out.write(`error ${d.code}: ${d.message}\n`);
        for (const id of result.unresolved) out.write(`unresolved: ${id}\n`);
      }
      if (!result.ok) process.exitCode = 1;
    });

  model
    .command('codegen')
    .description('Generate TypeScript types and a runtime descriptor from DTDL files.')
    .argument('<paths...>', 'JSON files or directories (one model set)')
    .requiredOption('--out <path>', 'output .ts file, or a directory')
    .option('--repo <dir>', 'a Device Models Repository checkout to resolve missing DTMIs from')
    .action(async (paths: string[], opts: { out: string; repo?: string }) => {
      const files = modelFiles(paths);
      const result = await parseFiles(files, opts.repo);
      if (!result.ok || result.model === undefined) {
        for (const d of result.errors) out.write(`${where(files, d)}: error ${d.code}: ${d.message}\n`);
        for (const dtmi of result.unresolved) out.write(`unresolved: ${dtmi} (pass --repo DIR)\n`);
        throw new CliError('CLI_INVALID_ARGUMENT', 'The model is not valid; nothing was generated.');
      }
      const code = generateTypeScript(result.model);
      let target = resolve(opts.out);
      if (extname(target) !== '.ts') {
        mkdirSync(target, { recursive: true });
        target = join(target, `${basename(files[0] ?? 'model', '.json')}.ts`);
      }
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, code);
      out.write(`wrote ${target}\n`);
    });
}
