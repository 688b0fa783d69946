// Herald's Kerberos constrained delegation over MIT GSS-API (libgssapi_krb5):
//
//   acquireServiceCredential({ keytab, principal, ccache? })  the gateway's own initiator
//       credential, from its keytab (cred store: client_keytab + a MEMORY ccache of its own)
//   impersonate(service, userPrincipal)                       S4U2Self
//       -> { credential, lifetimeSeconds }
//   initSecContext(user, targetSpn)                           S4U2Proxy + the first SPNEGO token
//       -> base64
//   acceptSecContext({ keytab, principal? }, tokenBase64)     what Exchange does with the token
//       -> { principal, delegated }
//
// Every GSS-API call runs on the libuv thread pool (Napi::AsyncWorker) and the functions return
// Promises. Failures reject with an Error carrying `major`, `minor` (numbers) and `code` (the
// classification of src/gateway/kerberos/errors.ts).
//
// All credentials are SPNEGO credentials restricted to krb5 with gss_set_neg_mechs, the service's
// AND the impersonated user's: SPNEGO's impersonate does not carry the restriction over, and a
// krb5-only credential handed to a SPNEGO gss_init_sec_context is not found by the mechglue (it
// would silently fall back to the default ccache).
//
// The KDC comes from the krb5.conf that KRB5_CONFIG names: MIT reads it whenever a krb5 context
// is created, i.e. on each GSS-API call, so it must be set in the process environment before the
// first call (the gateway does; see src/gateway/kerberos/index.ts).

#include <napi.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <cstdint>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

gss_OID_desc kSpnegoOid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};
gss_OID_desc kKrb5Oid = {9, const_cast<char*>("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02")};
gss_OID_set_desc kSpnegoSet = {1, &kSpnegoOid};
gss_OID_set_desc kKrb5Set = {1, &kKrb5Oid};

std::atomic<uint64_t> ccacheCounter{0};

// ---- errors ------------------------------------------------------------------------------------

struct GssFailure {
  bool failed = false;
  OM_uint32 major = 0;
  OM_uint32 minor = 0;
  std::string message;
  std::string code;
};

std::string StatusText(OM_uint32 status, int type) {
  std::string text;
  OM_uint32 context = 0;
  do {
    OM_uint32 minor = 0;
    gss_buffer_desc buffer = GSS_C_EMPTY_BUFFER;
    OM_uint32 major = gss_display_status(&minor, status, type, GSS_C_NO_OID, &context, &buffer);
    if (GSS_ERROR(major)) break;
    if (!text.empty()) text += "; ";
    text.append(static_cast<const char*>(buffer.value), buffer.length);
    gss_release_buffer(&minor, &buffer);
  } while (context != 0);
  return text;
}

// The Kerberos errors the classification below knows.
const krb5_error_code kKnownCodes[] = {
    KRB5KRB_AP_ERR_SKEW, KRB5KDC_ERR_CLIENT_NOTYET, KRB5KRB_AP_ERR_TKT_NYV, KRB5_KDC_UNREACH,
    KRB5_REALM_CANT_RESOLVE, KRB5_REALM_UNKNOWN, KRB5_CONFIG_NODEFREALM, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN,
    KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, KRB5KDC_ERR_CLIENT_REVOKED, KRB5KDC_ERR_NAME_EXP, KRB5_PRINC_NOMATCH,
    KRB5KDC_ERR_BADOPTION, KRB5KDC_ERR_POLICY, KRB5_KT_NOTFOUND, KRB5_KT_END, KRB5_KT_KVNONOTFOUND,
    KRB5_KT_BADNAME, KRB5_KT_UNKNOWN_TYPE, KRB5_KT_FORMAT, KRB5_KEYTAB_BADVNO, KRB5KDC_ERR_PREAUTH_FAILED,
    KRB5KRB_AP_ERR_BAD_INTEGRITY, KRB5KRB_AP_ERR_MODIFIED, KRB5KRB_AP_ERR_BADKEYVER, KRB5KRB_AP_ERR_NOKEY,
    KRB5KDC_ERR_ETYPE_NOSUPP, KRB5KRB_AP_ERR_NOT_US, KRB5KRB_AP_WRONG_PRINC, KRB5_FCC_NOFILE, KRB5_CC_NOTFOUND, KRB5KRB_AP_ERR_TKT_EXPIRED,
};

bool Known(krb5_error_code code) {
  for (krb5_error_code known : kKnownCodes) {
    if (known == code) return true;
  }
  return false;
}

// The Kerberos error behind a minor status. Through SPNEGO it is not the minor status itself: the
// mechglue gives each (mechanism, code) pair a number of its own, and krb5's code, already taken
// by the inner (krb5, code) pair, comes out of SPNEGO as a made-up number (100001, 100002, ...
// in the order met). Displaying that number goes through SPNEGO to krb5's message for the code,
// so the code is the known one whose message reads the same (on this thread, right after the
// failure: krb5 then displays its saved, detailed message for both).
krb5_error_code Krb5Code(OM_uint32 minor, const std::string& minorText) {
  const krb5_error_code code = static_cast<krb5_error_code>(minor);
  if (Known(code) || minorText.empty()) return code;
  for (krb5_error_code known : kKnownCodes) {
    if (StatusText(static_cast<OM_uint32>(known), GSS_C_MECH_CODE) == minorText) return known;
  }
  return code;
}

// The classification errors.ts knows, from the Kerberos error in the minor status (the mechglue
// passes krb5's com_err codes through) and, without one, the GSS-API major status.
std::string Classify(OM_uint32 major, krb5_error_code code) {
  switch (code) {
    case KRB5KRB_AP_ERR_SKEW:
    case KRB5KDC_ERR_CLIENT_NOTYET:
    case KRB5KRB_AP_ERR_TKT_NYV:
    case KRB5KRB_AP_ERR_TKT_EXPIRED:
      return "clock_skew";
    case KRB5_KDC_UNREACH:
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
    case KRB5_CONFIG_NODEFREALM:
    case ECONNREFUSED:
    case ETIMEDOUT:
    case EHOSTUNREACH:
    case ENETUNREACH:
      return "kdc_unreachable";
    case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
    case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
    case KRB5KDC_ERR_CLIENT_REVOKED:
    case KRB5KDC_ERR_NAME_EXP:
    case KRB5_PRINC_NOMATCH:
      return "principal_unknown";
    case KRB5KDC_ERR_BADOPTION:
    case KRB5KDC_ERR_POLICY:
      return "delegation_not_allowed";
    case KRB5_KT_NOTFOUND:
    case KRB5_KT_END:
    case KRB5_KT_KVNONOTFOUND:
    case KRB5_KT_BADNAME:
    case KRB5_KT_UNKNOWN_TYPE:
    case KRB5_KT_FORMAT:
    case KRB5_KEYTAB_BADVNO:
    case KRB5KDC_ERR_PREAUTH_FAILED:
    case KRB5KRB_AP_ERR_BAD_INTEGRITY:
    case KRB5KRB_AP_ERR_MODIFIED:
    case KRB5KRB_AP_ERR_BADKEYVER:
    case KRB5KRB_AP_ERR_NOKEY:
    case KRB5KDC_ERR_ETYPE_NOSUPP:
    case KRB5KRB_AP_ERR_NOT_US:
    case KRB5KRB_AP_WRONG_PRINC:
    // Acquiring with client_keytab: the keytab holds no key for the principal, so there was no
    // TGT to get and none in the ccache.
    case KRB5_FCC_NOFILE:
    case KRB5_CC_NOTFOUND:
    case ENOENT:
    case EACCES:
    case EPERM:
      return "keytab";
    default:
      break;
  }
  switch (GSS_ROUTINE_ERROR(major)) {
    case GSS_S_CONTEXT_EXPIRED:
    case GSS_S_CREDENTIALS_EXPIRED:
      return "clock_skew";
    default:
      return "other";
  }
}

// `redact`: a user principal, personal data, kept out of the message (which gets logged).
void Fail(GssFailure& failure, const std::string& what, OM_uint32 major, OM_uint32 minor,
          const std::string& redact = "") {
  std::string majorText = StatusText(major, GSS_C_GSS_CODE);
  std::string minorText = minor != 0 ? StatusText(minor, GSS_C_MECH_CODE) : "";
  const krb5_error_code code = minor != 0 ? Krb5Code(minor, minorText) : 0;
  if (!redact.empty()) {
    for (size_t at = minorText.find(redact); at != std::string::npos; at = minorText.find(redact, at)) {
      minorText.replace(at, redact.size(), "<user>");
    }
  }
  failure.failed = true;
  failure.major = major;
  failure.minor = static_cast<OM_uint32>(code);
  failure.code = Classify(major, code);
  char numbers[96];
  if (static_cast<OM_uint32>(code) != minor) {
    snprintf(numbers, sizeof numbers, " (major 0x%08x, minor %d, krb5 error %d)", major, static_cast<int32_t>(minor),
             code);
  } else {
    snprintf(numbers, sizeof numbers, " (major 0x%08x, minor %d)", major, static_cast<int32_t>(minor));
  }
  failure.message = what + ": " + majorText;
  if (!minorText.empty()) failure.message += ": " + minorText;
  failure.message += numbers;
}

void FailPlain(GssFailure& failure, const std::string& message, const std::string& code) {
  failure.failed = true;
  failure.message = message;
  failure.code = code;
}

Napi::Value ErrorValue(Napi::Env env, const GssFailure& failure) {
  Napi::Error error = Napi::Error::New(env, failure.message);
  error.Set("major", Napi::Number::New(env, failure.major));
  error.Set("minor", Napi::Number::New(env, static_cast<int32_t>(failure.minor)));
  error.Set("code", Napi::String::New(env, failure.code));
  return error.Value();
}

// ---- credentials ------------------------------------------------------------------------------

// A gss_cred_id_t shared by the JS handle and the workers using it: released when the last one
// lets go, so release() during a call in flight is safe. A MEMORY ccache made for it is destroyed.
struct CredHolder {
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  std::string ownCcache;

  ~CredHolder() {
    OM_uint32 minor = 0;
    if (cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &cred);
    if (!ownCcache.empty()) {
      krb5_context context = nullptr;
      if (krb5_init_context(&context) == 0) {
        krb5_ccache ccache = nullptr;
        if (krb5_cc_resolve(context, ownCcache.c_str(), &ccache) == 0) krb5_cc_destroy(context, ccache);
        krb5_free_context(context);
      }
    }
  }
};

using CredPtr = std::shared_ptr<CredHolder>;

class Credential : public Napi::ObjectWrap<Credential> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GssCredential",
                       {InstanceMethod<&Credential::Release>("release"),
                        InstanceAccessor<&Credential::Released>("released")});
  }

  explicit Credential(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Credential>(info) {}

  CredPtr holder;

 private:
  Napi::Value Release(const Napi::CallbackInfo& info) {
    holder.reset();
    return info.Env().Undefined();
  }
  Napi::Value Released(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !holder);
  }
};

struct AddonData {
  Napi::FunctionReference credentialClass;
};

Napi::Object NewCredential(Napi::Env env, CredPtr holder) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Object object = data->credentialClass.New({});
  Credential::Unwrap(object)->holder = std::move(holder);
  return object;
}

// The credential behind a handle, or nullptr (and a TypeError thrown) when it is not one.
CredPtr CredentialArg(const Napi::Env& env, const Napi::Value& value, const char* what) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(data->credentialClass.Value())) {
    Napi::TypeError::New(env, std::string(what) + " must be a credential of this addon")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  Credential* wrapped = Credential::Unwrap(value.As<Napi::Object>());
  if (wrapped == nullptr) {
    // An object made from the prototype without the constructor wraps nothing.
    Napi::TypeError::New(env, std::string(what) + " must be a credential of this addon")
        .ThrowAsJavaScriptException();
    return nullptr;
  }
  CredPtr holder = wrapped->holder;
  if (!holder) {
    Napi::Error::New(env, std::string(what) + " was released").ThrowAsJavaScriptException();
  }
  return holder;
}

bool ImportName(GssFailure& failure, const std::string& text, gss_OID type, gss_name_t* name,
                const std::string& redact = "") {
  OM_uint32 minor = 0;
  gss_buffer_desc buffer = {text.size(), const_cast<char*>(text.data())};
  OM_uint32 major = gss_import_name(&minor, &buffer, type, name);
  if (GSS_ERROR(major)) {
    Fail(failure, redact.empty() ? "gss_import_name(" + text + ")" : "gss_import_name(<user>)", major, minor, redact);
    return false;
  }
  return true;
}

bool RestrictToKrb5(GssFailure& failure, gss_cred_id_t cred) {
  OM_uint32 minor = 0;
  OM_uint32 major = gss_set_neg_mechs(&minor, cred, &kKrb5Set);
  if (GSS_ERROR(major)) {
    Fail(failure, "gss_set_neg_mechs", major, minor);
    return false;
  }
  return true;
}

// ---- workers ----------------------------------------------------------------------------------

class GssWorker : public Napi::AsyncWorker {
 public:
  explicit GssWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual Napi::Value Result(Napi::Env env) = 0;
  void OnOK() override {
    Napi::Env env = Env();
    if (failure_.failed) {
      deferred_.Reject(ErrorValue(env, failure_));
    } else {
      deferred_.Resolve(Result(env));
    }
  }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

  GssFailure failure_;

 private:
  Napi::Promise::Deferred deferred_;
};

class AcquireWorker : public GssWorker {
 public:
  AcquireWorker(Napi::Env env, std::string keytab, std::string principal, std::string ccache)
      : GssWorker(env), keytab_(std::move(keytab)), principal_(std::move(principal)), ccache_(std::move(ccache)) {}

  void Execute() override {
    auto holder = std::make_shared<CredHolder>();
    std::string ccache = ccache_;
    if (ccache.empty()) {
      ccache = "MEMORY:herald-s4u-" + std::to_string(getpid()) + "-" + std::to_string(++ccacheCounter);
      holder->ownCcache = ccache;
    }
    if (access(keytab_.c_str(), R_OK) != 0) {
      int error = errno;
      FailPlain(failure_, "keytab " + keytab_ + " is not readable: " + strerror(error), "keytab");
      failure_.minor = static_cast<OM_uint32>(error);
      return;
    }
    gss_name_t name = GSS_C_NO_NAME;
    if (!ImportName(failure_, principal_, GSS_KRB5_NT_PRINCIPAL_NAME, &name)) return;
    gss_key_value_element_desc elements[] = {{"client_keytab", keytab_.c_str()}, {"ccache", ccache.c_str()}};
    gss_key_value_set_desc store = {2, elements};
    // krb5 first: it gets the TGT into the ccache now (one AS exchange) and, failing, says why
    // (no key in the keytab, principal unknown, no KDC), where SPNEGO would say only "SPNEGO cannot
    // find mechanisms to negotiate". The SPNEGO credential then finds the TGT in the ccache.
    OM_uint32 minor = 0, ignored = 0;
    gss_cred_id_t krb5Cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &kKrb5Set, GSS_C_INITIATE, &store,
                                            &krb5Cred, nullptr, nullptr);
    if (krb5Cred != GSS_C_NO_CREDENTIAL) gss_release_cred(&ignored, &krb5Cred);
    if (!GSS_ERROR(major)) {
      major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &kSpnegoSet, GSS_C_INITIATE, &store, &holder->cred,
                                    nullptr, nullptr);
    }
    gss_release_name(&ignored, &name);
    if (GSS_ERROR(major)) {
      Fail(failure_, "gss_acquire_cred_from(" + principal_ + ", " + keytab_ + ")", major, minor);
      return;
    }
    if (!RestrictToKrb5(failure_, holder->cred)) return;
    holder_ = std::move(holder);
  }

 protected:
  Napi::Value Result(Napi::Env env) override { return NewCredential(env, holder_); }

 private:
  std::string keytab_, principal_, ccache_;
  CredPtr holder_;
};

class ImpersonateWorker : public GssWorker {
 public:
  ImpersonateWorker(Napi::Env env, CredPtr service, std::string user)
      : GssWorker(env), service_(std::move(service)), user_(std::move(user)) {}

  void Execute() override {
    gss_name_t name = GSS_C_NO_NAME;
    if (!ImportName(failure_, user_, GSS_KRB5_NT_PRINCIPAL_NAME, &name, user_)) return;
    auto holder = std::make_shared<CredHolder>();
    OM_uint32 minor = 0;
    OM_uint32 major = gss_acquire_cred_impersonate_name(&minor, service_->cred, name, GSS_C_INDEFINITE, &kSpnegoSet,
                                                        GSS_C_INITIATE, &holder->cred, nullptr, nullptr);
    OM_uint32 ignored = 0;
    gss_release_name(&ignored, &name);
    if (GSS_ERROR(major)) {
      Fail(failure_, "S4U2Self (gss_acquire_cred_impersonate_name)", major, minor, user_);
      return;
    }
    if (!RestrictToKrb5(failure_, holder->cred)) return;
    OM_uint32 lifetime = 0;
    major = gss_inquire_cred(&minor, holder->cred, nullptr, &lifetime, nullptr, nullptr);
    if (GSS_ERROR(major)) {
      Fail(failure_, "gss_inquire_cred", major, minor);
      return;
    }
    lifetime_ = lifetime == GSS_C_INDEFINITE ? 0xffffffffu : lifetime;
    holder_ = std::move(holder);
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("credential", NewCredential(env, holder_));
    result.Set("lifetimeSeconds", Napi::Number::New(env, lifetime_));
    return result;
  }

 private:
  CredPtr service_;
  std::string user_;
  CredPtr holder_;
  double lifetime_ = 0;
};

// `HTTP/host` and `HTTP/host@REALM` are krb5 principal names (no realm: the default realm);
// `HTTP@host` is a GSS host-based service name.
bool ImportTarget(GssFailure& failure, const std::string& spn, gss_name_t* name) {
  if (spn.find('/') == std::string::npos && spn.find('@') != std::string::npos) {
    return ImportName(failure, spn, GSS_C_NT_HOSTBASED_SERVICE, name);
  }
  return ImportName(failure, spn, GSS_KRB5_NT_PRINCIPAL_NAME, name);
}

std::string Base64(const unsigned char* data, size_t length) {
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((length + 2) / 3 * 4);
  for (size_t i = 0; i < length; i += 3) {
    uint32_t n = static_cast<uint32_t>(data[i]) << 16;
    if (i + 1 < length) n |= static_cast<uint32_t>(data[i + 1]) << 8;
    if (i + 2 < length) n |= data[i + 2];
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += i + 1 < length ? alphabet[(n >> 6) & 63] : '=';
    out += i + 2 < length ? alphabet[n & 63] : '=';
  }
  return out;
}

class InitWorker : public GssWorker {
 public:
  InitWorker(Napi::Env env, CredPtr user, std::string spn) : GssWorker(env), user_(std::move(user)), spn_(std::move(spn)) {}

  void Execute() override {
    gss_name_t target = GSS_C_NO_NAME;
    if (!ImportTarget(failure_, spn_, &target)) return;
    gss_ctx_id_t context = GSS_C_NO_CONTEXT;
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
    OM_uint32 minor = 0;
    OM_uint32 major = gss_init_sec_context(&minor, user_->cred, &context, target, &kSpnegoOid,
                                           GSS_C_MUTUAL_FLAG | GSS_C_SEQUENCE_FLAG, GSS_C_INDEFINITE,
                                           GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, nullptr, &output, nullptr, nullptr);
    OM_uint32 ignored = 0;
    gss_release_name(&ignored, &target);
    if (GSS_ERROR(major)) {
      Fail(failure_, "S4U2Proxy to " + spn_ + " (gss_init_sec_context)", major, minor);
      // Here an unknown principal is the target (no account holds the SPN), not the user.
      if (failure_.code == "principal_unknown" && failure_.minor == static_cast<OM_uint32>(KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN)) {
        failure_.code = "target_unknown";
      }
    } else if (output.length == 0) {
      FailPlain(failure_, "gss_init_sec_context to " + spn_ + " produced no token", "other");
    } else {
      token_ = Base64(static_cast<const unsigned char*>(output.value), output.length);
    }
    gss_release_buffer(&ignored, &output);
    if (context != GSS_C_NO_CONTEXT) gss_delete_sec_context(&ignored, &context, GSS_C_NO_BUFFER);
  }

 protected:
  Napi::Value Result(Napi::Env env) override { return Napi::String::New(env, token_); }

 private:
  CredPtr user_;
  std::string spn_;
  std::string token_;
};

class AcceptWorker : public GssWorker {
 public:
  AcceptWorker(Napi::Env env, std::string keytab, std::string principal, std::vector<unsigned char> token)
      : GssWorker(env), keytab_(std::move(keytab)), principal_(std::move(principal)), token_(std::move(token)) {}

  void Execute() override {
    if (access(keytab_.c_str(), R_OK) != 0) {
      int error = errno;
      FailPlain(failure_, "keytab " + keytab_ + " is not readable: " + strerror(error), "keytab");
      failure_.minor = static_cast<OM_uint32>(error);
      return;
    }
    gss_name_t acceptor = GSS_C_NO_NAME;
    if (!principal_.empty() && !ImportTarget(failure_, principal_, &acceptor)) return;
    gss_key_value_element_desc elements[] = {{"keytab", keytab_.c_str()}};
    gss_key_value_set_desc store = {1, elements};
    gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
    OM_uint32 minor = 0, ignored = 0;
    OM_uint32 major = gss_acquire_cred_from(&minor, acceptor, GSS_C_INDEFINITE, &kSpnegoSet, GSS_C_ACCEPT, &store, &cred,
                                            nullptr, nullptr);
    if (acceptor != GSS_C_NO_NAME) gss_release_name(&ignored, &acceptor);
    if (GSS_ERROR(major)) {
      Fail(failure_, "gss_acquire_cred_from(keytab " + keytab_ + ")", major, minor);
      return;
    }
    if (!RestrictToKrb5(failure_, cred)) {
      gss_release_cred(&ignored, &cred);
      return;
    }
    gss_ctx_id_t context = GSS_C_NO_CONTEXT;
    gss_buffer_desc input = {token_.size(), token_.data()};
    gss_buffer_desc output = GSS_C_EMPTY_BUFFER;
    gss_name_t source = GSS_C_NO_NAME;
    gss_cred_id_t delegated = GSS_C_NO_CREDENTIAL;
    OM_uint32 flags = 0;
    major = gss_accept_sec_context(&minor, &context, cred, &input, GSS_C_NO_CHANNEL_BINDINGS, &source, nullptr, &output,
                                   &flags, nullptr, &delegated);
    if (GSS_ERROR(major)) {
      Fail(failure_, "gss_accept_sec_context", major, minor);
    } else if (major & GSS_S_CONTINUE_NEEDED) {
      FailPlain(failure_, "gss_accept_sec_context wants another round trip (not a Kerberos token?)", "other");
    } else {
      gss_buffer_desc display = GSS_C_EMPTY_BUFFER;
      major = gss_display_name(&minor, source, &display, nullptr);
      if (GSS_ERROR(major)) {
        Fail(failure_, "gss_display_name", major, minor);
      } else {
        principal_.assign(static_cast<const char*>(display.value), display.length);
        gss_release_buffer(&ignored, &display);
      }
      delegated_ = (flags & GSS_C_DELEG_FLAG) != 0;
    }
    gss_release_buffer(&ignored, &output);
    if (source != GSS_C_NO_NAME) gss_release_name(&ignored, &source);
    if (delegated != GSS_C_NO_CREDENTIAL) gss_release_cred(&ignored, &delegated);
    if (context != GSS_C_NO_CONTEXT) gss_delete_sec_context(&ignored, &context, GSS_C_NO_BUFFER);
    gss_release_cred(&ignored, &cred);
  }

 protected:
  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("principal", Napi::String::New(env, principal_));
    result.Set("delegated", Napi::Boolean::New(env, delegated_));
    return result;
  }

 private:
  std::string keytab_, principal_;
  std::vector<unsigned char> token_;
  bool delegated_ = false;
};

// ---- exports ----------------------------------------------------------------------------------

bool StringOption(const Napi::Env& env, const Napi::Object& options, const char* key, bool required,
                  std::string* out) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined() && !required) return true;
  if (!value.IsString() || value.As<Napi::String>().Utf8Value().empty()) {
    Napi::TypeError::New(env, std::string(key) + " must be a non-empty string").ThrowAsJavaScriptException();
    return false;
  }
  *out = value.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    Napi::TypeError::New(env, std::string(key) + " must not contain NUL").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

bool OptionsArg(const Napi::CallbackInfo& info, Napi::Object* out) {
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(info.Env(), "options must be an object").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[0].As<Napi::Object>();
  return true;
}

bool StringArg(const Napi::CallbackInfo& info, size_t index, const char* what, std::string* out) {
  if (info.Length() <= index || !info[index].IsString()) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[index].As<Napi::String>().Utf8Value();
  if (out->empty() || out->find('\0') != std::string::npos) {
    Napi::TypeError::New(info.Env(), std::string(what) + " must be a non-empty string").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

template <typename Worker, typename... Args>
Napi::Value Queue(Napi::Env env, Args&&... args) {
  auto* worker = new Worker(env, std::forward<Args>(args)...);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value AcquireServiceCredential(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options;
  std::string keytab, principal, ccache;
  if (!OptionsArg(info, &options) || !StringOption(env, options, "keytab", true, &keytab) ||
      !StringOption(env, options, "principal", true, &principal) ||
      !StringOption(env, options, "ccache", false, &ccache)) {
    return env.Undefined();
  }
  return Queue<AcquireWorker>(env, keytab, principal, ccache);
}

Napi::Value Impersonate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CredPtr service = CredentialArg(env, info[0], "the service credential");
  std::string user;
  if (!service || !StringArg(info, 1, "userPrincipal", &user)) return env.Undefined();
  return Queue<ImpersonateWorker>(env, service, user);
}

Napi::Value InitSecContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CredPtr user = CredentialArg(env, info[0], "the user credential");
  std::string spn;
  if (!user || !StringArg(info, 1, "targetSpn", &spn)) return env.Undefined();
  return Queue<InitWorker>(env, user, spn);
}

Napi::Value AcceptSecContext(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options;
  std::string keytab, principal, tokenText;
  if (!OptionsArg(info, &options) || !StringOption(env, options, "keytab", true, &keytab) ||
      !StringOption(env, options, "principal", false, &principal) || !StringArg(info, 1, "token", &tokenText)) {
    return env.Undefined();
  }
  // Base64 decoding through Buffer (strict enough: the GSS-API rejects a garbled token).
  Napi::Object bufferClass = env.Global().Get("Buffer").As<Napi::Object>();
  Napi::Function from = bufferClass.Get("from").As<Napi::Function>();
  Napi::Value decoded = from.Call(bufferClass, {Napi::String::New(env, tokenText), Napi::String::New(env, "base64")});
  if (env.IsExceptionPending()) return env.Undefined();
  Napi::Buffer<unsigned char> buffer = decoded.As<Napi::Buffer<unsigned char>>();
  std::vector<unsigned char> token(buffer.Data(), buffer.Data() + buffer.Length());
  return Queue<AcceptWorker>(env, keytab, principal, std::move(token));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->credentialClass = Napi::Persistent(Credential::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("acquireServiceCredential", Napi::Function::New<AcquireServiceCredential>(env, "acquireServiceCredential"));
  exports.Set("impersonate", Napi::Function::New<Impersonate>(env, "impersonate"));
  exports.Set("initSecContext", Napi::Function::New<InitSecContext>(env, "initSecContext"));
  exports.Set("acceptSecContext", Napi::Function::New<AcceptSecContext>(env, "acceptSecContext"));
  exports.Set("GssCredential", data->credentialClass.Value());
  return exports;
}

}  // namespace

NODE_API_MODULE(herald_kerberos, Init)
