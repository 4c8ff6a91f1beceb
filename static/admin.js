/* The admin form's own script (no build step): a preview swaps each field's error in beside it
   (out of band); this keeps the field's aria-invalid in step with that error, without swapping
   the field itself (which would move the caret while the admin types). */
(function () {
  "use strict";

  function syncInvalid() {
    var fields = document.querySelectorAll("input[aria-describedby^='error-']");
    Array.prototype.forEach.call(fields, function (field) {
      var error = document.getElementById(field.getAttribute("aria-describedby"));
      if (error && error.textContent.trim()) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  }

  document.addEventListener("htmx:afterSettle", syncInvalid);
})();
