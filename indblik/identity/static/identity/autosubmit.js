// Submit the SAML POST-binding form at once. A file, not inline script, so that the page
// works under a strict Content-Security-Policy; without JavaScript the button still works.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) {
    form.submit();
  }
});
