/**
 * What the device-profile builder takes and gives: one device's enrollment (template, one-time
 * SCEP challenge, CA endpoint) and mail account (gateway host, user), turned into an iOS
 * configuration profile and an Android managed configuration carrying the same information.
 */
import type { CertificateTemplate } from '../templates.ts';

/** A certificate and key that sign the .mobileconfig (CMS SignedData), as PEM. */
export interface ProfileSigner {
  /** The signer's certificate (PEM, the first CERTIFICATE block is used). */
  certificatePem: string;
  /** Its private key, PKCS #8 or PKCS #1/SEC 1 PEM, RSA or EC. */
  privateKeyPem: string;
  /** Intermediate (and root) certificates to carry so devices can build the chain. */
  chainPem?: string[];
}

export interface DeviceProfileInput {
  /** The device's id ({DeviceUid}); also makes the profile's PayloadIdentifier stable per device. */
  deviceUid: string;
  /** The user's UPN ({UserPrincipalName}; the ActiveSync UserName). */
  user: string;
  /** The mailbox address ({EmailAddress}; the ActiveSync EmailAddress). */
  email: string;
  /** {EnrollmentUser}; defaults to `user`. Must match what the challenge was created with. */
  enrollmentUser?: string;
  /** The user's name as people read it, shown in the profile's name. */
  displayName?: string;
  /** The template the challenge was created for: subject, SANs and key size come from it. */
  template: CertificateTemplate;
  /** The one-time SCEP password, already created by the caller for this device. */
  challenge: string;
  /** `{publicUrl}/pki/scep`. */
  scepUrl: string;
  /** SCEP "Name" (the CA identifier sent with GetCACert). */
  caName?: string;
  /**
   * The CA certificate fingerprint devices check GetCACert against: hex (colons allowed) or
   * bytes, 16 (MD5), 20 (SHA-1) or 32 (SHA-256) bytes. See docs/pki-profiles.md before setting
   * it: Apple's open-source SCEP client recognises only MD5 and SHA-1 lengths.
   */
  caFingerprint?: string | Uint8Array;
  /** Host (optionally `:port`) devices use for ActiveSync: the secure email gateway. */
  gatewayHost: string;
  /** PayloadOrganization. */
  organization: string;
  /** Reverse-DNS prefix of every PayloadIdentifier, e.g. `com.contoso.herald`. */
  identifier: string;
  /** Sign the .mobileconfig; without it the profile is plain XML (iOS shows it "Not Signed"). */
  sign?: ProfileSigner;
}

/**
 * The Android managed configuration (application restrictions bundle) an email app reads. Android
 * has no standard ActiveSync or SCEP payload; these are the keys Herald documents for app
 * developers (docs/pki-profiles.md), one nested bundle per concern.
 */
export interface AndroidManagedConfig {
  /** Format version of this object. */
  version: 1;
  profile: {
    /** The same PayloadIdentifier as the iOS profile (stable per device). */
    identifier: string;
    deviceUid: string;
    organization: string;
    displayName?: string;
  };
  exchange: {
    /** The gateway host, without port. */
    host: string;
    port: number;
    ssl: true;
    email: string;
    username: string;
    /** Authenticate with the certificate enrolled through `certificate`. */
    clientCertificate: true;
  };
  certificate: {
    scepUrl: string;
    /** SCEP CA identifier ("Name"), when set. */
    caName?: string;
    challenge: string;
    /** RFC 4514 text of the filled subject, e.g. `CN=dev-1, O=Contoso`. */
    subject: string;
    keyType: 'RSA';
    keySize: number;
    sanEmail?: string;
    sanUpn?: string;
    /** Upper-case hex, as given. */
    caFingerprint?: string;
  };
}

export interface DeviceProfiles {
  /** The XML plist, or CMS SignedData (DER) wrapping it when signed. */
  mobileconfig: Buffer;
  mobileconfigSigned: boolean;
  android: AndroidManagedConfig;
  /** The profile's PayloadIdentifier (stable per device), for logs and the route's filename. */
  identifier: string;
}
