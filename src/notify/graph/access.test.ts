/**
 * What GraphAccess tells the choice of a registration's source (docs/graph.md, "Which source a
 * registration uses"): a tenant's Graph domains, and which EWS hosts are Exchange Online's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair, SignJWT } from 'jose';
import { Agent, type Dispatcher } from 'undici';
import { startExchangeSimulator } from '../../sim/exchange/index.ts';
import { GraphAccess, type GraphAccessOptions } from './access.ts';

const base: GraphAccessOptions = {
  tenants: [
    {
      id: 'fabrikam',
      graph: { tenantId: '0B2C2F6E-1D3A-4E5B-9C7D-8E9F0A1B2C3D', domains: ['Fabrikam.example'] },
    },
    { id: 'contoso' },
  ],
  authorityHost: 'https://login.microsoftonline.com',
  graphUrl: 'https://graph.microsoft.com/v1.0',
  jwksUrl: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
  timeoutMs: 1000,
  limits: { maxLifetimeMinutes: 10080, maxLifetimeMinutesWithResourceData: 1440, safetyMarginMinutes: 5 },
  userAgent: 'Herald/test',
};

test("a tenant's Graph domains, case-insensitively; none for a tenant without Graph", () => {
  const access = new GraphAccess(base);
  assert.equal(access.servesDomain('fabrikam', 'ann@FABRIKAM.example'), true);
  assert.equal(access.servesDomain('fabrikam', 'ann@other.example'), false);
  assert.equal(access.servesDomain('contoso', 'ann@fabrikam.example'), false);
  assert.equal(access.tenant('contoso'), undefined);
  assert.equal(access.tenant('fabrikam')?.entraTenantId, '0b2c2f6e-1d3a-4e5b-9c7d-8e9f0a1b2c3d');
});

test("Exchange Online's EWS hosts by default; configured ones replace them", () => {
  const access = new GraphAccess(base);
  assert.equal(access.isExchangeOnline('https://Outlook.Office365.com/EWS/Exchange.asmx'), true);
  assert.equal(access.isExchangeOnline('https://outlook.office.com/EWS/Exchange.asmx'), true);
  assert.equal(access.isExchangeOnline('https://mail.fabrikam.example/EWS/Exchange.asmx'), false);
  assert.equal(access.isExchangeOnline('not a url'), false);
  const usGov = new GraphAccess({ ...base, exchangeOnlineHosts: ['outlook.office365.us'] });
  assert.equal(usGov.isExchangeOnline('https://outlook.office365.us/EWS/Exchange.asmx'), true);
  assert.equal(usGov.isExchangeOnline('https://outlook.office365.com/EWS/Exchange.asmx'), false);
});

test('the signing keys of validation tokens are fetched through the injected dispatcher (CAs, proxy)', async () => {
  const sim = await startExchangeSimulator();
  const paths: string[] = [];
  class RecordingAgent extends Agent {
    override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
      paths.push(options.path);
      return super.dispatch(options, handler);
    }
  }
  const dispatcher = new RecordingAgent();
  try {
    const access = new GraphAccess({
      ...base,
      jwksUrl: `${sim.url}/common/discovery/v2.0/keys`,
      dispatcher,
    });
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'RS256', kid: 'not-a-published-key' })
      .setAudience('app')
      .setExpirationTime('1h')
      .sign(privateKey);
    // The keys were fetched and read: the token's key is simply not among them.
    await assert.rejects(
      access.verifier(['app']).verifyToken(token, '0b2c2f6e-1d3a-4e5b-9c7d-8e9f0a1b2c3d'),
      (error: unknown) => {
        assert.equal((error as Error).message, 'a validation token is signed with an unknown key');
        return true;
      },
    );
    assert.deepEqual(paths, ['/common/discovery/v2.0/keys']);
  } finally {
    await dispatcher.close();
    await sim.close();
  }
});
