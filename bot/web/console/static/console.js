// Small progressive enhancements; every page works without this file.
// Buttons with data-confirm ask first (inline handlers would break the Content-Security-Policy).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var question = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
// "Select all that match the filter" check boxes: data-check-all="name" ticks every box of that name.
document.addEventListener("change", function (event) {
  var name = event.target.dataset && event.target.dataset.checkAll;
  if (!name) { return; }
  document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (box) {
    box.checked = event.target.checked;
  });
});
