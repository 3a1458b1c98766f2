// MathJax 3 configuration for pymdownx.arithmatex (generic mode): arithmatex wraps
// $...$ in \( \) and $$...$$ in \[ \] inside elements of class "arithmatex", and
// MathJax typesets only those elements.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

// mkdocs-material loads pages without a full reload (instant navigation):
// typeset again every time a new page is shown.
document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
