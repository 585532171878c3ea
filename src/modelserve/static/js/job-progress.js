// The job page follows its job: every 500 ms it asks /jobs/<id>/status.json and moves the
// progress bar and the figures; once the job has finished it swaps in the finished page
// (fetched, not reloaded). A file, not an inline script: the CSP allows 'self' only.
(function () {
  "use strict";
  var PERIOD = 500;
  var root = document.getElementById("job");
  if (!root || !root.dataset.statusUrl) {
    return;
  }
  var url = root.dataset.statusUrl;

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) {
      element.textContent = text || "";
    }
  }

  function show(job) {
    var bar = document.getElementById("job-progress");
    bar.value = job.progress.percent;
    bar.textContent = job.text.percent;
    setText("job-percent", job.text.percent);
    setText("job-rows", job.text.rows);
    setText("job-rate", job.text.rate);
    setText("job-left", job.text.left);
    setText("job-status", job.text.status);
    setText("job-scored", job.text.scored);
    setText("job-rejected", job.text.rejected);
    root.dataset.status = job.status;
  }

  function swap() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("job");
        if (!fresh) {
          throw new Error("no #job in the page");
        }
        root.replaceWith(document.adoptNode(fresh));
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (job) {
        show(job);
        if (job.finished) {
          swap();
        } else {
          window.setTimeout(poll, PERIOD);
        }
      })
      .catch(function () {
        window.setTimeout(poll, PERIOD * 4); // a hiccup (a restart?): try again, less often
      });
  }

  window.setTimeout(poll, PERIOD);
})();
