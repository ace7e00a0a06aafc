// Visit and link forms: a VAS slider records an answer only once it has been moved.
// The slider itself has no name; its answer is the hidden field named in data-answer.
(function () {
  "use strict";
  document.querySelectorAll("input[type=range][data-answer]").forEach(function (slider) {
    var answer = document.getElementById(slider.dataset.answer);
    var shown = document.getElementById(slider.id + "-shown");
    function mark() {
      slider.removeAttribute("data-untouched");
      answer.value = slider.value;
      shown.textContent = slider.value + (slider.dataset.unit ? " " + slider.dataset.unit : "");
    }
    slider.addEventListener("input", mark);
    slider.addEventListener("change", mark);
    slider.addEventListener("pointerup", mark);
  });
})();
