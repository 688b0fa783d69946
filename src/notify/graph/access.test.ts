/**
 * Which source a registration without an explicit provider uses (docs/graph.md): the device's EWS
 * URL decides when it gives one, else the tenant's Graph domains; tenants without Graph use EWS.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphAccess } from './access.ts';

const access = new GraphAccess({
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
});

test('without an EWS URL, the mail domain decides, case-insensitively', () => {
  assert.equal(access.prefersGraph('fabrikam', 'ann@FABRIKAM.example', undefined), true);
  assert.equal(access.prefersGraph('fabrikam', 'ann@other.example', undefined), false);
});

test("an EWS URL decides alone: Exchange Online's hosts mean Graph, any other server EWS", () => {
  const onPremises = 'https://mail.fabrikam.example/EWS/Exchange.asmx';
  assert.equal(access.prefersGraph('fabrikam', 'ann@fabrikam.example', onPremises), false);
  assert.equal(
    access.prefersGraph('fabrikam', 'ann@other.example', 'https://Outlook.Office365.com/EWS/Exchange.asmx'),
    true,
  );
  assert.equal(
    access.prefersGraph('fabrikam', 'ann@other.example', 'https://outlook.office.com/EWS/Exchange.asmx'),
    true,
  );
});

test('a tenant without Graph settings always uses EWS', () => {
  assert.equal(access.prefersGraph('contoso', 'ann@fabrikam.example', undefined), false);
  assert.equal(
    access.prefersGraph('contoso', 'ann@fabrikam.example', 'https://outlook.office365.com/EWS/Exchange.asmx'),
    false,
  );
  assert.equal(access.tenant('contoso'), undefined);
  assert.equal(access.tenant('fabrikam')?.entraTenantId, '0b2c2f6e-1d3a-4e5b-9c7d-8e9f0a1b2c3d');
});
