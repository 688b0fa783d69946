/**
 * What can go wrong when the gateway asks the KDC for a user's ticket, in the words of the
 * troubleshooting guides admins know ("Get Kerberos token failed", clock skew, KDC unreachable,
 * principal unknown, target not allowed for delegation), with the answer the device gets.
 */

/** The classification of a GSS-API / Kerberos failure (the native addon sets `code`). */
export type KerberosFailure =
  | 'clock_skew'
  | 'kdc_unreachable'
  | 'principal_unknown'
  | 'delegation_not_allowed'
  | 'target_unknown'
  | 'keytab'
  | 'no_user_principal'
  | 'addon_unavailable'
  | 'other';

const FAILURES: Record<KerberosFailure, { status: number; code: string; message: string }> = {
  clock_skew: {
    status: 502,
    code: 'kerberos_clock_skew',
    message:
      'Get Kerberos token failed: the clocks of the gateway and the domain controller differ by more than 5 minutes.',
  },
  kdc_unreachable: {
    status: 503,
    code: 'kerberos_kdc_unreachable',
    message: 'Get Kerberos token failed: no domain controller (KDC) could be reached.',
  },
  principal_unknown: {
    status: 403,
    code: 'kerberos_principal_unknown',
    message: "Get Kerberos token failed: the certificate's user is not known to the directory.",
  },
  delegation_not_allowed: {
    status: 502,
    code: 'kerberos_delegation_not_allowed',
    message:
      "Get Kerberos token failed: the gateway's account is not allowed to delegate to Exchange's SPN (constrained delegation).",
  },
  target_unknown: {
    status: 502,
    code: 'kerberos_target_unknown',
    message: "Get Kerberos token failed: no account holds Exchange's SPN (check targetSpn).",
  },
  keytab: {
    status: 502,
    code: 'kerberos_keytab',
    message: "Get Kerberos token failed: the gateway's keytab does not hold usable keys for its account.",
  },
  no_user_principal: {
    status: 403,
    code: 'kerberos_no_user_principal',
    message: 'The client certificate names no user principal (UPN) to obtain a Kerberos ticket for.',
  },
  addon_unavailable: {
    status: 502,
    code: 'kerberos_unavailable',
    message: 'Kerberos delegation is not available on this gateway.',
  },
  other: {
    status: 502,
    code: 'kerberos_failed',
    message: 'Get Kerberos token failed.',
  },
};

const KNOWN = new Set<string>(Object.keys(FAILURES));

export class KerberosDelegationError extends Error {
  readonly failure: KerberosFailure;
  /** The HTTP status the device gets. */
  readonly status: number;
  /** The `error.code` of the JSON answer. */
  readonly code: string;
  /** What the device is told (no principal names, no GSS detail). */
  readonly publicMessage: string;

  constructor(failure: KerberosFailure, detail: string, options?: { cause?: unknown }) {
    const answer = FAILURES[failure];
    super(`${answer.message} (${detail})`, options);
    this.name = 'KerberosDelegationError';
    this.failure = failure;
    this.status = answer.status;
    this.code = answer.code;
    this.publicMessage = answer.message;
  }
}

/** Wraps an error of the native addon (which carries `code`, `major`, `minor`). */
export function delegationError(error: unknown): KerberosDelegationError {
  if (error instanceof KerberosDelegationError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const failure = typeof code === 'string' && KNOWN.has(code) ? (code as KerberosFailure) : 'other';
  const detail = error instanceof Error ? error.message : String(error);
  return new KerberosDelegationError(failure, detail, { cause: error });
}

/** Failures that a later try may not meet again (the KDC was down): not worth caching. */
export function isTransient(failure: KerberosFailure): boolean {
  return failure === 'kdc_unreachable' || failure === 'clock_skew' || failure === 'other';
}
