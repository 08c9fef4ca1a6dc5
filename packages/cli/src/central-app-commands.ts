/**
 * `plugboard device-template|enrollment-group|api-token …`: the application's templates, enrollment
 * groups and API tokens, with the names and flags of `az iot central`. Each talks to the REST API
 * through {@link CentralClient}; `--json` prints the answer as JSON.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { CentralClient, type JsonRecord } from './central-client.js';
import { centralCommand, output, readContent, type TargetOptions } from './central-device-commands.js';
import { CliError } from './client.js';

/** Role names and the ids Central gives them (az maps them the same way). */
const ROLES: Record<string, string> = {
  admin: 'ca310b8d-2f4a-44e0-a36e-957c202cd8d4',
  builder: '344138e9-8de4-4497-8c54-5237e96d6aaf',
  operator: 'ae2c9854-393b-4f97-8c42-479d70ce626e',
};

/**
 * Registers the template, enrollment group and API token commands.
 *
 * @example
 * registerCentralAppCommands(program, process.stdout);
 */
export function registerCentralAppCommands(program: Command, out: NodeJS.WritableStream): void {
  const client = (opts: TargetOptions): CentralClient => CentralClient.connect(opts);

  const template = program
    .command('device-template')
    .description('Device templates (as `az iot central device-template`).');
  centralCommand(template, 'list', 'List the templates (id, name, capability model).').action(
    async (opts: TargetOptions) => {
      const templates = await client(opts).listTemplates();
      output(out, opts.json, templates, () =>
        templates
          .map(
            (t) =>
              `${String(t['@id'])}\t${JSON.stringify(t['displayName'])}\t${String((t['capabilityModel'] as JsonRecord)['@id'])}`,
          )
          .join('\n'),
      );
    },
  );
  centralCommand(template, 'show', 'Show a template.')
    .requiredOption('--device-template-id <id>', 'template id (a DTMI)')
    .action(async (opts: TargetOptions & { deviceTemplateId: string }) => {
      output(out, true, await client(opts).getTemplate(opts.deviceTemplateId), () => '');
    });
  centralCommand(
    template,
    'create',
    'Create a template from a file: {"displayName", "capabilityModel": <DTDL Interface>}.',
  )
    .requiredOption('--device-template-id <id>', 'template id (a DTMI)')
    .requiredOption('--content <json|file>', 'the template')
    .action(async (opts: TargetOptions & { deviceTemplateId: string; content: string }) => {
      const created = await client(opts).putTemplate(opts.deviceTemplateId, readContent(opts.content));
      output(out, opts.json, created, () => `created device template ${String(created['@id'])}`);
    });
  centralCommand(template, 'update', 'Change a template: the fields of --content replace those stored.')
    .requiredOption('--device-template-id <id>', 'template id (a DTMI)')
    .requiredOption('--content <json|file>', 'the fields to change')
    .action(async (opts: TargetOptions & { deviceTemplateId: string; content: string }) => {
      const updated = await client(opts).patchTemplate(opts.deviceTemplateId, readContent(opts.content));
      output(out, opts.json, updated, () => `updated device template ${String(updated['@id'])}`);
    });
  centralCommand(template, 'delete', 'Delete a template no device uses.')
    .requiredOption('--device-template-id <id>', 'template id (a DTMI)')
    .action(async (opts: TargetOptions & { deviceTemplateId: string }) => {
      await client(opts).deleteTemplate(opts.deviceTemplateId);
      output(out, opts.json, { result: 'success' }, () => `deleted device template ${opts.deviceTemplateId}`);
    });
  centralCommand(template, 'export', 'Write a template as imported (without its etag), to a file or stdout.')
    .requiredOption('--device-template-id <id>', 'template id (a DTMI)')
    .option('--output <file>', 'file to write (default: stdout)')
    .action(async (opts: TargetOptions & { deviceTemplateId: string; output?: string }) => {
      const { etag: _etag, ...body } = await client(opts).getTemplate(opts.deviceTemplateId);
      const text = `${JSON.stringify(body, null, 2)}\n`;
      if (opts.output === undefined) out.write(text);
      else {
        writeFileSync(opts.output, text);
        out.write(`wrote ${opts.output}\n`);
      }
    });

  const group = program
    .command('enrollment-group')
    .description('Enrollment groups (as `az iot central enrollment-group`).');
  centralCommand(group, 'list', 'List the enrollment groups.').action(async (opts: TargetOptions) => {
    const groups = await client(opts).listEnrollmentGroups();
    output(out, opts.json, groups, () =>
      groups
        .map(
          (g) =>
            `${String(g['id'])}\t${String(g['displayName'])}\t${String((g['attestation'] as JsonRecord)['type'])}\t${g['enabled'] === true ? 'enabled' : 'disabled'}`,
        )
        .join('\n'),
    );
  });
  centralCommand(group, 'show', 'Show an enrollment group (with its keys).')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .action(async (opts: TargetOptions & { groupId: string }) => {
      output(out, true, await client(opts).getEnrollmentGroup(opts.groupId), () => '');
    });
  centralCommand(group, 'create', 'Create an enrollment group: symmetric keys (generated unless given) or an X.509 CA.')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .option('--display-name <name>', 'display name (default: the id)')
    .addOption(new Option('--type <type>', 'device type').choices(['iot', 'iotEdge']).default('iot'))
    .addOption(
      new Option('--attestation-type <type>', 'attestation').choices(['symmetricKey', 'x509']).default('symmetricKey'),
    )
    .option('--primary-key <key>', 'symmetric primary key (base64)')
    .option('--secondary-key <key>', 'symmetric secondary key (base64)')
    .option('--certificate-path <file>', 'the signing CA certificate (PEM) of an x509 group')
    .addOption(
      new Option('--provisioning-status <status>', 'enabled or disabled')
        .choices(['enabled', 'disabled'])
        .default('enabled'),
    )
    .action(
      async (
        opts: TargetOptions & {
          groupId: string;
          displayName?: string;
          type: string;
          attestationType: string;
          primaryKey?: string;
          secondaryKey?: string;
          certificatePath?: string;
          provisioningStatus: string;
        },
      ) => {
        const attestation: JsonRecord = { type: opts.attestationType };
        if (
          opts.attestationType === 'symmetricKey' &&
          (opts.primaryKey !== undefined || opts.secondaryKey !== undefined)
        ) {
          attestation['symmetricKey'] = { primaryKey: opts.primaryKey, secondaryKey: opts.secondaryKey };
        }
        if (opts.attestationType === 'x509' && opts.certificatePath === undefined) {
          throw new CliError('CLI_INVALID_ARGUMENT', 'An x509 group needs --certificate-path (its signing CA).');
        }
        const api = client(opts);
        let created = await api.putEnrollmentGroup(opts.groupId, {
          displayName: opts.displayName ?? opts.groupId,
          attestation,
          type: opts.type,
          enabled: opts.provisioningStatus === 'enabled',
        });
        if (opts.certificatePath !== undefined) {
          let pem: string;
          try {
            pem = readFileSync(opts.certificatePath, 'utf8');
          } catch (cause) {
            throw new CliError('CLI_INVALID_ARGUMENT', `Cannot read ${opts.certificatePath}.`, { cause });
          }
          // As az sends it: base64 of the PEM text.
          await api.putEnrollmentCertificate(opts.groupId, 'primary', Buffer.from(pem).toString('base64'));
          created = await api.getEnrollmentGroup(opts.groupId);
        }
        output(out, opts.json, created, () => `created enrollment group ${String(created['id'])}`);
      },
    );
  centralCommand(group, 'delete', 'Delete an enrollment group.')
    .requiredOption('--group-id <id>', 'enrollment group id')
    .action(async (opts: TargetOptions & { groupId: string }) => {
      await client(opts).deleteEnrollmentGroup(opts.groupId);
      output(out, opts.json, { result: 'success' }, () => `deleted enrollment group ${opts.groupId}`);
    });

  const token = program.command('api-token').description('API tokens (as `az iot central api-token`).');
  centralCommand(token, 'list', 'List the API tokens (without their secrets).').action(async (opts: TargetOptions) => {
    const tokens = await client(opts).listApiTokens();
    output(out, opts.json, tokens, () =>
      tokens.map((t) => `${String(t['id'])}\t${JSON.stringify(t['roles'])}\t${String(t['expiry'])}`).join('\n'),
    );
  });
  centralCommand(token, 'show', 'Show an API token (without its secret).')
    .requiredOption('--token-id <id>', 'token id')
    .action(async (opts: TargetOptions & { tokenId: string }) => {
      output(out, true, await client(opts).getApiToken(opts.tokenId), () => '');
    });
  centralCommand(token, 'create', 'Create an API token; prints the token once.')
    .requiredOption('--token-id <id>', 'token id')
    .requiredOption('--role <role>', 'admin, builder or operator (or a role id)')
    .option('--expiry <time>', 'ISO 8601 expiry (default: one year)')
    .action(async (opts: TargetOptions & { tokenId: string; role: string; expiry?: string }) => {
      const body: JsonRecord = { roles: [{ role: ROLES[opts.role] ?? opts.role }] };
      if (opts.expiry !== undefined) body['expiry'] = opts.expiry;
      const created = await client(opts).putApiToken(opts.tokenId, body);
      output(out, opts.json, created, () => String(created['token']));
    });
  centralCommand(token, 'delete', 'Delete (revoke) an API token.')
    .requiredOption('--token-id <id>', 'token id')
    .action(async (opts: TargetOptions & { tokenId: string }) => {
      await client(opts).deleteApiToken(opts.tokenId);
      output(out, opts.json, { result: 'success' }, () => `deleted API token ${opts.tokenId}`);
    });
}
