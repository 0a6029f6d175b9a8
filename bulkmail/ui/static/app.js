// bulkmail ui: the little the pages need beyond forms — cells checked as they are edited,
// a run's progress, a drop zone. No framework; nothing loaded from elsewhere.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf"]').content;

  function post(url, fields) {
    const body = new FormData();
    for (const [k, v] of Object.entries(fields)) body.append(k, v);
    return fetch(url, {method: "POST", body, headers: {"X-CSRF-Token": csrf}, credentials: "same-origin"})
      .then(async (answer) => {
        if (!answer.ok) {
          const text = new DOMParser().parseFromString(await answer.text(), "text/html");
          const said = text.querySelector("#problem, p");
          throw new Error(said ? said.textContent : answer.statusText);
        }
        return answer.json();
      });
  }

  // -- the grid: each edit is checked again on the server --------------------------------
  const grid = document.getElementById("grid");
  if (grid) {
    const url = "/w/" + grid.dataset.ws + "/cell";
    const apply = (answer) => {
      for (const [number, state] of Object.entries(answer.rows)) {
        const tr = document.getElementById("r-" + number);
        if (!tr) continue;
        tr.className = state.status;
        tr.querySelector(".status").textContent = state.status;
        tr.querySelector(".detail").textContent = state.detail;
        for (const input of tr.querySelectorAll("input.cell")) {
          const bad = input.dataset.column === state.bad;
          input.classList.toggle("bad", bad);
          if (bad) { input.setAttribute("aria-invalid", "true"); input.title = state.detail; }
          else { input.removeAttribute("aria-invalid"); input.removeAttribute("title"); }
        }
      }
      for (const number of answer.deleted) {
        const tr = document.getElementById("r-" + number);
        if (tr) tr.remove();
      }
      document.getElementById("problem-count").textContent = answer.problems;
      document.getElementById("row-count").textContent = answer.total;
    };
    const fail = (error) => alert(error.message);
    grid.addEventListener("change", (event) => {
      const input = event.target;
      if (!input.classList.contains("cell")) return;
      const row = input.closest("tr").dataset.row;
      post(url, {row, column: input.dataset.column, value: input.value}).then(apply, fail);
    });
    grid.addEventListener("click", (event) => {
      if (!event.target.classList.contains("delete")) return;
      const row = event.target.closest("tr").dataset.row;
      post(url, {row, delete: "1"}).then(apply, fail);
    });
  }

  // -- a run: follow its progress until it ends --------------------------------------------
  const job = document.getElementById("job");
  if (job && job.dataset.running === "yes") {
    const stages = document.getElementById("stages");
    const poll = () => fetch("/jobs/" + job.dataset.job + "/progress", {credentials: "same-origin"})
      .then((answer) => answer.json())
      .then((state) => {
        stages.replaceChildren(...state.stages.map((s) => {
          const p = document.createElement("p");
          const label = document.createElement("label");
          const bar = document.createElement("progress");
          bar.max = s.total || 0;
          bar.value = s.done;
          label.append(s.stage + " ", bar, ` ${s.done}${s.total ? " of " + s.total : ""} ${s.unit}s`);
          p.append(label);
          return p;
        }));
        if (state.running) setTimeout(poll, 300);
        else if (state.next) window.location.assign(state.next);
        else window.location.reload();
      }, () => setTimeout(poll, 1000));
    setTimeout(poll, 200);
  }

  // -- the drop zone -----------------------------------------------------------------------
  const drop = document.getElementById("drop");
  if (drop) {
    const input = document.getElementById("file");
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    });
  }
})();
