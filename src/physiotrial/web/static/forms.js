// Visit and link forms: a VAS slider records an answer only once it has been moved.
// Without script each VAS is a number box (the answer field, named measure.item). With script
// the line (a range input with no name) is shown instead, the number box is hidden, and moving
// the line writes the mark into it; an untouched line leaves it blank, which is "unanswered".
(function () {
  "use strict";
  document.querySelectorAll("input[type=range][data-answer]").forEach(function (slider) {
    var answer = document.getElementById(slider.dataset.answer);
    var shown = document.getElementById(slider.id + "-shown");
    var label = document.querySelector("label[data-slider-label='" + slider.id + "']");
    slider.closest(".vas").hidden = false;
    shown.hidden = false;
    answer.closest(".vas-typed").hidden = true;
    if (label) { label.htmlFor = slider.id; }
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
