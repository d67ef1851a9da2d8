// The public report form (served at /report): checks the declarations,
// fingerprints a selected file in the browser (SHA-256 with WebCrypto; the
// file itself never leaves the device) and posts the report to
// POST /v1/public/reports/ncii.
"use strict";
(function () {
  const form = document.getElementById("report");
  const status = document.getElementById("status");
  const out = document.getElementById("fingerprint");
  let sha256 = "";

  function show(text, kind) {
    status.textContent = text;
    status.className = kind;
  }

  document.getElementById("file").addEventListener("change", async (e) => {
    sha256 = "";
    out.textContent = "";
    const file = e.target.files && e.target.files[0];
    if (!file) return;
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    out.textContent = "Fingerprint: " + sha256;
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (id) => document.getElementById(id).value.trim();
    const content = {};
    if (value("url")) content.url = value("url");
    if (value("content_id")) content.content_id = value("content_id");
    if (sha256) content.sha256 = sha256;
    if (Object.keys(content).length === 0) return show("Give a link, a content ID or the image itself.", "error");
    if (!value("email").includes("@")) return show("Give an email address so we can tell you the outcome.", "error");
    if (!document.getElementById("intimate_image").checked || !document.getElementById("depicts").checked) {
      return show("Both declarations are needed for us to act on the report.", "error");
    }
    const body = {
      declarations: { intimate_image: true, depicts_reporter_or_authorised: true },
      reporter: { email: value("email"), relationship: value("relationship") },
      content,
    };
    if (value("description")) body.description = value("description");
    show("Sending…", "");
    try {
      const r = await fetch("/v1/public/reports/ncii", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
      });
      const answer = await r.json().catch(() => ({}));
      if (!r.ok) return show((answer.error && answer.error.message) || "The report could not be sent.", "error");
      form.reset();
      sha256 = "";
      out.textContent = "";
      show("Thank you. Your report reference is " + answer.reference + ". We will act on it by " +
        new Date(answer.respond_by).toLocaleString() + ".", "ok");
    } catch (err) {
      show("The report could not be sent: check your connection and try again.", "error");
    }
  });
})();
