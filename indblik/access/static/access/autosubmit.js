// Post the care-system simulator's launch form at once (a static file: no inline script).
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) { form.submit(); });
