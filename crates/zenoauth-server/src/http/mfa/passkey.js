(function () {
  "use strict";
  var form = document.getElementById("passkey-form");
  var data = document.getElementById("passkey-options");
  var field = document.getElementById("passkey-credential");
  var error = document.getElementById("passkey-error");
  if (!form || !data || !field) { return; }
  function toBytes(text) {
    text = text.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) { text += "="; }
    var raw = atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function toText(buffer) {
    if (!buffer) { return null; }
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function withIds(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports || undefined };
    });
  }
  // Only credProps is passed on: other client outputs differ between
  // browsers and carry nothing the server checks.
  function clientExtensions(credential) {
    var results = credential.getClientExtensionResults ? credential.getClientExtensionResults() : {};
    return results && results.credProps ? { credProps: { rk: !!results.credProps.rk } } : {};
  }
  function run() {
    if (!window.PublicKeyCredential || !navigator.credentials) { return Promise.reject(new Error("unsupported")); }
    var options = JSON.parse(data.textContent).publicKey;
    options.challenge = toBytes(options.challenge);
    var call;
    if (form.getAttribute("data-mode") === "create") {
      options.user.id = toBytes(options.user.id);
      options.excludeCredentials = withIds(options.excludeCredentials);
      call = navigator.credentials.create({ publicKey: options });
    } else {
      options.allowCredentials = withIds(options.allowCredentials);
      call = navigator.credentials.get({ publicKey: options });
    }
    return call.then(function (credential) {
      var response = credential.response;
      var out = { clientDataJSON: toText(response.clientDataJSON) };
      if (response.attestationObject) {
        out.attestationObject = toText(response.attestationObject);
      } else {
        out.authenticatorData = toText(response.authenticatorData);
        out.signature = toText(response.signature);
        out.userHandle = toText(response.userHandle);
      }
      field.value = JSON.stringify({
        id: credential.id,
        rawId: toText(credential.rawId),
        type: credential.type,
        response: out,
        extensions: clientExtensions(credential)
      });
      form.submit();
    });
  }
  form.addEventListener("submit", function (event) {
    if (field.value) { return; }
    event.preventDefault();
    if (error) { error.hidden = true; }
    run().catch(function () { if (error) { error.hidden = false; } });
  });
}());
