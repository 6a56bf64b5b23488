// Render the math that pymdownx.arithmatex (generic mode) wraps in .arithmatex elements, on first
// load and after every instant-navigation page change of MkDocs Material (document$).
(function () {
  function render(root) {
    if (typeof renderMathInElement !== "function") return; // KaTeX not unpacked: leave raw TeX
    root.querySelectorAll(".arithmatex").forEach(function (el) {
      renderMathInElement(el, {
        delimiters: [
          { left: "\\[", right: "\\]", display: true },
          { left: "\\(", right: "\\)", display: false },
        ],
        throwOnError: false,
      });
    });
  }
  if (typeof document$ !== "undefined") {
    document$.subscribe(function () { render(document.body); });
  } else {
    document.addEventListener("DOMContentLoaded", function () { render(document.body); });
  }
})();
