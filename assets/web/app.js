// weatherd's page: plain JavaScript, no framework and no build step, so a student can
// read it with "view source" and the binary embeds it as it is. Data comes only from
// the JSON API (docs/api.md); plots are uPlot (vendored, assets/web/uplot.min.js).
"use strict";
(function () {
  // What the browser test (tests/web_browser.rs) and curious students can look at.
  const W = (window.weatherd = {
    plots: {}, // name -> uPlot instance
    plotColumns: {}, // name -> API column of each series (null: derived, e.g. rain total)
    sources: {}, // name -> the records URL the plot's data came from
    plotBasis: null, // start of the newest record when the plots were loaded
    plotRange: null, // the range ("24h", "7d", "30d", "1y") the plots show
    plotLoads: 0, // how many times the plots have been (re)drawn from the API
    reloadPlots: null, // () => reload the plots now, up to the newest record
    lastRecordStart: null, // start of the newest record shown in "Now"
    updates: 0, // how many newer records "Now" has shown since the page loaded
    live: "connecting", // "events" (Server-Sent Events), "polling" or "connecting"
    errors: [], // uncaught errors and console.error calls
    marks: {}, // performance.now() figures: firstPlot (ms after navigation)
    station: null,
    latest: null,
    windrose: null,
    range: "24h",
  });

  // Errors are collected where a test (and a teacher with the console closed) can see them.
  window.addEventListener("error", (e) => W.errors.push(String(e.message || e)));
  window.addEventListener("unhandledrejection", (e) =>
    W.errors.push("unhandled rejection: " + String((e.reason && e.reason.message) || e.reason)),
  );
  document.addEventListener("securitypolicyviolation", (e) =>
    W.errors.push("Content-Security-Policy blocked " + e.blockedURI + " (" + e.violatedDirective + ")"),
  );
  const consoleError = console.error.bind(console);
  console.error = function () {
    W.errors.push(Array.prototype.map.call(arguments, String).join(" "));
    consoleError.apply(null, arguments);
  };

  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";

  // Standard record columns: the plots and "Now" know these; any other quantity the
  // station lists (an extra driver's, e.g. illuminance_lux) is shown generically.
  const KNOWN = new Set([
    "samples", "temperature_c", "temperature_min_c", "temperature_max_c", "temperature_n",
    "humidity_pct", "humidity_min_pct", "humidity_max_pct", "humidity_n", "pressure_hpa",
    "pressure_min_hpa", "pressure_max_hpa", "pressure_n", "ground_temperature_c",
    "ground_temperature_min_c", "ground_temperature_max_c", "ground_temperature_n",
    "dew_point_c", "sea_level_pressure_hpa", "altimeter_hpa", "wind_speed_kmh", "wind_gust_kmh",
    "wind_dir_deg", "wind_n", "wind_dir_n", "rain_mm", "rain_rate_mm_per_h", "rain_n",
    "apparent_temperature_c", "wind_chill_c", "heat_index_c",
  ]);
  // Unit symbols by column-name suffix (units are in the names, see record.rs).
  const SUFFIX_UNITS = [
    ["_mm_per_h", "mm/h"], ["_c", "°C"], ["_pct", "%"], ["_hpa", "hPa"], ["_kmh", "km/h"],
    ["_deg", "°"], ["_mm", "mm"], ["_lux", "lx"], ["_wm2", "W/m²"], ["_v", "V"], ["_ppm", "ppm"],
  ];
  const RANGES = { "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400 };
  // Main plots: raw records for a day, else the server downsamples to a point budget
  // keeping each column's extremes. Rain bars: per hour up to a week, else per day.
  const PLOT_QUERY = {
    "24h": { every: "raw", rain: "hour" },
    "7d": { every: "raw", rain: "hour" },
    "30d": { every: "hour", rain: "day" },
    "1y": { every: "hour", rain: "day" },
  };
  const POINTS = 1500;

  function unitOf(name) {
    const q = W.station && (W.station.quantities || []).find((q) => q.name === name);
    for (const [suffix, symbol] of SUFFIX_UNITS) if (name.endsWith(suffix)) return symbol;
    return q && q.unit ? q.unit : "";
  }
  function labelOf(name) {
    const q = W.station && (W.station.quantities || []).find((q) => q.name === name);
    if (q && q.label) return q.label;
    let base = name;
    for (const [suffix] of SUFFIX_UNITS) if (base.endsWith(suffix)) { base = base.slice(0, -suffix.length); break; }
    base = base.replace(/_/g, " ");
    return base.charAt(0).toUpperCase() + base.slice(1);
  }
  function num(v, digits) {
    return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits);
  }
  function withUnit(v, name, digits) {
    const s = num(v, digits);
    return s === "–" ? s : s + "\u202f" + unitOf(name);
  }
  function digitsFor(name) {
    if (name.endsWith("_lux") || name.endsWith("_deg") || name.endsWith("_pct")) return 0;
    return 1;
  }
  function tz() {
    return (W.station && W.station.timezone) || "UTC";
  }
  function fmtLocal(t, withDate) {
    if (t === null || t === undefined) return "–";
    const opts = { timeZone: tz(), hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withDate) Object.assign(opts, { year: "numeric", month: "short", day: "numeric" });
    return new Intl.DateTimeFormat(undefined, opts).format(new Date(t * 1000));
  }
  const COMPASS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];
  function compassPoint(deg) {
    return COMPASS[Math.round((((deg % 360) + 360) % 360) / 22.5) % 16];
  }
  function setText(id, text) {
    const e = $(id);
    if (e) e.textContent = text;
  }
  function el(tag, attrs, children) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    for (const c of children || []) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    if (!r.ok) {
      let detail = r.status + " " + r.statusText;
      try {
        const body = await r.json();
        if (body && body.error) detail = body.error;
      } catch (_) {
        /* not JSON: keep the status line */
      }
      const err = new Error(url + ": " + detail);
      err.status = r.status;
      throw err;
    }
    return r.json();
  }
  // A failed request is shown where its data would be, not thrown into the console.
  function showProblem(container, message) {
    container.replaceChildren(el("p", { class: "problem" }, [message]));
  }

  // ---- Station and "Now" ---------------------------------------------------------

  function renderStation(s) {
    setText("station-name", s.name || "Weather station");
    document.title = (s.name || "Weather station") + " · weatherd";
    const lat = s.latitude, lon = s.longitude;
    const pos =
      lat === null || lat === undefined
        ? ""
        : Math.abs(lat).toFixed(4) + "°" + (lat >= 0 ? "N" : "S") + " " + Math.abs(lon).toFixed(4) + "°" + (lon >= 0 ? "E" : "W") +
          (s.elevation_m === null || s.elevation_m === undefined ? "" : ", " + Math.round(s.elevation_m) + " m");
    setText("station-position", pos);
    setText("footer-version", "weatherd " + (s.version || ""));
  }

  let stationNow = null; // [station epoch seconds, performance.now() when received]
  function tickClock() {
    if (!stationNow) return;
    const t = stationNow[0] + (performance.now() - stationNow[1]) / 1000;
    setText("station-time", fmtLocal(Math.floor(t), true) + " (" + tz() + ")");
  }

  function tendencyWords(d) {
    // The Met Office's words for a 3-hour change (hPa).
    const a = Math.abs(d);
    if (a < 0.1) return "steady";
    const how = a < 1.6 ? "slowly" : a < 3.6 ? "" : a < 6.1 ? "quickly" : "very rapidly";
    return ((d > 0 ? "rising " : "falling ") + how).trim();
  }

  function renderLatest(l) {
    W.latest = l;
    stationNow = [l.now, performance.now()];
    tickClock();
    const warnings = [];
    const r = l.record;
    if (!r) warnings.push("No records yet: the station has not stored its first record.");
    else if (l.stale) warnings.push("Data is stale: the newest record is from " + fmtLocal(r.start, true) + ".");
    if (l.clock_synchronised === false)
      warnings.push("The station's clock is not synchronised: times shown may be wrong.");
    const box = $("warnings");
    box.replaceChildren(...warnings.map((w) => el("p", {}, [w])));
    box.hidden = warnings.length === 0;
    if (!r) return;
    const newer = W.lastRecordStart !== null && r.start > W.lastRecordStart;
    if (W.lastRecordStart === null || r.start >= W.lastRecordStart) W.lastRecordStart = r.start;
    if (newer) W.updates += 1;
    setText("now-updated", "record of " + fmtLocal(r.start) + "–" + fmtLocal(r.end));
    setText("now-temperature", withUnit(r.temperature_c, "temperature_c", 1));
    // Derived values: each is null where its formula does not apply (wind chill only
    // when cold and windy, heat index only when hot), so only those that apply show.
    const feels = [
      ["Feels like", r.apparent_temperature_c],
      ["wind chill", r.wind_chill_c],
      ["heat index", r.heat_index_c],
    ].filter(([, v]) => v !== null && v !== undefined);
    setText("now-feels", feels.map(([w, v]) => w + " " + withUnit(v, "temperature_c", 1)).join(" · "));
    const t = l.today || {};
    setText("now-high", withUnit(t.temperature_max_c, "temperature_c", 1));
    setText("now-high-at", t.temperature_max_at ? "at " + fmtLocal(t.temperature_max_at) : "");
    setText("now-low", withUnit(t.temperature_min_c, "temperature_c", 1));
    setText("now-low-at", t.temperature_min_at ? "at " + fmtLocal(t.temperature_min_at) : "");
    setText("now-wind", withUnit(r.wind_speed_kmh, "wind_speed_kmh", 1));
    setText("now-gust", withUnit(r.wind_gust_kmh, "wind_gust_kmh", 1));
    setText("now-gust-max", withUnit(t.wind_gust_max_kmh, "wind_gust_kmh", 1));
    setText("now-gust-max-at", t.wind_gust_max_at ? "at " + fmtLocal(t.wind_gust_max_at) : "");
    const arrow = $("compass-arrow");
    if (r.wind_dir_deg === null || r.wind_dir_deg === undefined) {
      setText("now-dir", "direction unknown");
      arrow.setAttribute("visibility", "hidden");
    } else {
      setText("now-dir", "from " + compassPoint(r.wind_dir_deg) + " (" + Math.round(r.wind_dir_deg) + "°)");
      arrow.setAttribute("transform", "rotate(" + r.wind_dir_deg + " 50 50)");
      arrow.setAttribute("visibility", "visible");
    }
    const rain = l.rain || {};
    setText("now-rain-today", withUnit(rain.today_mm, "rain_mm", 1));
    setText("now-rain-hour", withUnit(rain.last_hour_mm, "rain_mm", 1));
    setText("now-rain-24h", withUnit(rain.last_24h_mm, "rain_mm", 1));
    setText("now-rain-rate", withUnit(r.rain_rate_mm_per_h, "rain_rate_mm_per_h", 1));
    setText("now-pressure", withUnit(r.sea_level_pressure_hpa, "sea_level_pressure_hpa", 1));
    const d = l.pressure_tendency_3h_hpa;
    setText(
      "now-tendency",
      d === null || d === undefined ? "3-hour tendency unknown" : (d >= 0 ? "+" : "") + d.toFixed(1) + " hPa in 3 h, " + tendencyWords(d),
    );
    setText("now-humidity", withUnit(r.humidity_pct, "humidity_pct", 0));
    setText("now-dew-point", withUnit(r.dew_point_c, "dew_point_c", 1));
    setText("now-ground", withUnit(r.ground_temperature_c, "ground_temperature_c", 1));
    const extras = extraColumns().filter((c) => c in r);
    $("now-extras").replaceChildren(
      ...extras.map((c) =>
        el("div", { class: "card" }, [
          el("div", { class: "label" }, [labelOf(c)]),
          el("div", { class: "value" }, [withUnit(r[c], c, digitsFor(c))]),
        ]),
      ),
    );
    if (newer) plotsMaybeRefresh();
  }

  function extraColumns() {
    return ((W.station && W.station.quantities) || [])
      .map((q) => q.name)
      .filter((n) => !KNOWN.has(n) && !/_n$/.test(n) && !/_(min|max)_/.test(n));
  }

  // Live: Server-Sent Events; if they fail (a proxy that buffers, an old browser),
  // poll /latest once a minute instead.
  let pollTimer = null;
  function startPolling() {
    if (pollTimer) return;
    W.live = "polling";
    pollTimer = setInterval(() => getJSON("/api/v1/latest").then(renderLatest, reportLive), 60000);
  }
  function reportLive(e) {
    const box = $("warnings");
    box.replaceChildren(el("p", {}, ["Cannot reach the station: " + e.message]));
    box.hidden = false;
  }
  function startLive() {
    if (!("EventSource" in window)) return startPolling();
    const es = new EventSource("/api/v1/events");
    es.addEventListener("open", () => {
      W.live = "events";
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
    });
    es.addEventListener("record", (e) => {
      try {
        renderLatest(JSON.parse(e.data));
      } catch (err) {
        W.errors.push("bad event: " + err.message);
      }
    });
    // EventSource reconnects by itself; meanwhile (or if it gave up) poll.
    es.addEventListener("error", () => startPolling());
  }

  // ---- Plots ---------------------------------------------------------------------

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#000";
  }
  function plotDefs() {
    const defs = [
      { name: "temperature", title: "Temperature and dew point", series: [["temperature_c", "Temperature", "--c-temp"], ["dew_point_c", "Dew point", "--c-dew"]] },
      { name: "humidity", title: "Humidity", series: [["humidity_pct", "Humidity", "--c-hum"]], range: [0, 100] },
      { name: "pressure", title: "Sea-level pressure", series: [["sea_level_pressure_hpa", "Pressure", "--c-press"]] },
      { name: "wind", title: "Wind speed and gust", series: [["wind_speed_kmh", "Speed", "--c-wind"], ["wind_gust_kmh", "Gust", "--c-gust"]], min0: true },
      { name: "wind_dir", title: "Wind direction", series: [["wind_dir_deg", "Direction", "--c-dir"]], points: true, range: [0, 360] },
      { name: "rain", title: "Rain", rain: true },
      { name: "ground", title: "Ground temperature", series: [["ground_temperature_c", "Ground", "--c-ground"]] },
      { name: "feels", title: "Feels like", series: [["apparent_temperature_c", "Apparent", "--c-temp"], ["wind_chill_c", "Wind chill", "--c-wind"], ["heat_index_c", "Heat index", "--c-gust"]] },
    ];
    for (const c of extraColumns()) defs.push({ name: c, title: labelOf(c), series: [[c, labelOf(c), "--c-extra"]] });
    return defs;
  }

  function plotWidth(div) {
    return Math.max(200, Math.floor(div.clientWidth || 320));
  }

  // Time-axis labels in the station's zone, 24-hour clock: "14:00", and the date where
  // a day starts (or on every tick once ticks are days apart).
  function timeTicks(u, splits, axisIdx, space, incr) {
    const day = new Intl.DateTimeFormat(undefined, { timeZone: tz(), day: "numeric", month: "short" });
    const time = new Intl.DateTimeFormat(undefined, { timeZone: tz(), hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const year = new Intl.DateTimeFormat(undefined, { timeZone: tz(), month: "short", year: "numeric" });
    let prevDay = null;
    return splits.map((t) => {
      const d = new Date(t * 1000);
      if (incr >= 28 * 86400) return year.format(d);
      if (incr >= 86400) return day.format(d);
      const ds = day.format(d);
      const label = prevDay !== null && ds !== prevDay ? time.format(d) + "\n" + ds : time.format(d);
      prevDay = ds;
      return label;
    });
  }

  function makePlot(def, data, div) {
    const stroke = css("--fg");
    const grid = css("--grid");
    const axis = (extra) => Object.assign({ stroke, grid: { stroke: grid }, ticks: { stroke: grid } }, extra);
    const series = [{ label: "Time", value: (u, t) => (t === null ? "–" : fmtLocal(t, true)) }];
    const axes = [axis({ values: timeTicks, space: 60 })];
    const scales = { x: { time: true } };
    if (def.rain) {
      const unit = "mm";
      series.push({
        label: "Rain per " + (PLOT_QUERY[W.range].rain === "hour" ? "hour" : "day"),
        stroke: css("--c-rain"),
        fill: css("--c-rain-fill"),
        paths: uPlot.paths.bars({ size: [0.8, 40], align: 1 }),
        points: { show: false },
        value: (u, v) => (v === null ? "–" : v.toFixed(1) + " " + unit),
      });
      series.push({
        label: "Total",
        stroke: css("--c-rain-total"),
        width: 2,
        scale: "total",
        value: (u, v) => (v === null ? "–" : v.toFixed(1) + " " + unit),
      });
      scales.mm = { range: (u, min, max) => [0, Math.max(1, max)] };
      scales.total = { range: (u, min, max) => [0, Math.max(1, max)] };
      series[1].scale = "mm";
      axes.push(axis({ scale: "mm", label: "mm", size: 50 }));
      axes.push(axis({ scale: "total", side: 1, label: "total mm", size: 50, grid: { show: false } }));
    } else {
      const first = def.series[0][0];
      const unit = unitOf(first);
      const digits = digitsFor(first);
      for (const [col, label, color] of def.series) {
        const s = {
          label,
          stroke: css(color),
          width: 2,
          scale: unit,
          value: (u, v) => (v === null ? "–" : v.toFixed(digits) + " " + unit),
        };
        if (def.points) Object.assign(s, { paths: () => null, points: { show: true, size: 4, fill: css(color) } });
        series.push(s);
      }
      scales[unit] = def.range ? { range: def.range } : def.min0 ? { range: (u, min, max) => [0, Math.max(10, max)] } : {};
      axes.push(axis(Object.assign({ scale: unit, label: unit, size: 55 }, def.name === "wind_dir" ? { incrs: [90], values: (u, vals) => vals.map((v) => compassPoint(v)) } : {})));
    }
    const opts = {
      width: plotWidth(div),
      height: window.innerWidth < 600 ? 200 : 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz()),
      series,
      axes,
      scales,
      spanGaps: false, // a gap in the records is a gap in the line, never interpolated
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      hooks: {
        draw: [
          () => {
            if (W.marks.firstPlot === undefined) W.marks.firstPlot = performance.now();
          },
        ],
      },
    };
    return new uPlot(opts, data, div);
  }

  function runningTotal(values) {
    let sum = 0;
    return values.map((v) => {
      if (v === null) return null;
      sum += v;
      return sum;
    });
  }

  let plotToken = 0;
  let plotsLoadedAt = 0;
  async function loadPlots() {
    const token = ++plotToken;
    const list = $("plot-list");
    const latest = W.latest;
    if (!latest || !latest.record) {
      showProblem(list, "No records yet.");
      return;
    }
    // Ranges end at the newest record's end: every record before it is stored, so what
    // is drawn is exactly what the API returns for these (absolute) parameters.
    const range = W.range;
    const basis = latest.record.start;
    const to = latest.record.end;
    const from = to - RANGES[range];
    const q = PLOT_QUERY[range];
    const mainUrl = "/api/v1/records?from=" + from + "&to=" + to + "&every=" + q.every + "&points=" + POINTS;
    const rainUrl = "/api/v1/records?from=" + from + "&to=" + to + "&every=" + q.rain + "&points=" + POINTS + "&columns=rain_mm";
    let main, rain;
    try {
      [main, rain] = await Promise.all([getJSON(mainUrl), getJSON(rainUrl)]);
    } catch (e) {
      if (token === plotToken) showProblem(list, "Cannot load the plots: " + e.message);
      return;
    }
    if (token !== plotToken) return; // a newer load started meanwhile
    const defs = plotDefs();
    const old = W.plots;
    for (const name in old) old[name].destroy();
    W.plots = {};
    W.plotColumns = {};
    W.sources = {};
    list.replaceChildren();
    for (const def of defs) {
      let data, columns, source;
      if (def.rain) {
        const mm = rain.values.rain_mm || rain.time.map(() => null);
        data = [rain.time, mm, runningTotal(mm)];
        columns = ["rain_mm", null];
        source = rainUrl;
      } else {
        const present = def.series.filter(([c]) => main.values[c] !== undefined);
        if (present.length === 0) continue; // the station does not measure it
        def.series = present;
        data = [main.time].concat(present.map(([c]) => main.values[c]));
        columns = present.map(([c]) => c);
        source = mainUrl;
      }
      const fig = el("figure", { class: "plot", id: "plot-" + def.name }, [el("figcaption", {}, [def.title])]);
      const div = el("div", { class: "plot-area" });
      fig.append(div);
      list.append(fig);
      W.plots[def.name] = makePlot(def, data, div);
      W.plotColumns[def.name] = columns;
      W.sources[def.name] = source;
    }
    if (main.downsampled) list.append(el("p", { class: "hint" }, ["Each point is a bucket of records: its mean, or its highest/lowest for extremes."]));
    W.plotBasis = basis;
    W.plotRange = range;
    W.plotLoads += 1;
    plotsLoadedAt = performance.now();
  }

  // A new record redraws the plots, at most as often as the range's resolution makes
  // worthwhile, and never while someone is zoomed in.
  const REFRESH_MS = { "24h": 0, "7d": 300000, "30d": 1800000, "1y": 3600000 };
  let refreshTimer = null;
  function plotsMaybeRefresh() {
    const zoomed = Object.values(W.plots).some((u) => {
      const x = u.scales.x;
      const t = u.data[0];
      return t.length > 1 && (x.min > t[0] || x.max < t[t.length - 1]);
    });
    if (zoomed || refreshTimer) return;
    const wait = Math.max(0, plotsLoadedAt + REFRESH_MS[W.range] - performance.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      loadPlots();
    }, Math.max(wait, 500));
  }

  function rangeButtons(groupId, onPick) {
    const group = $(groupId);
    group.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-range]");
      if (!b) return;
      for (const x of group.querySelectorAll("button")) x.classList.toggle("active", x === b);
      onPick(b.dataset.range);
    });
  }

  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const u of Object.values(W.plots)) u.setSize({ width: plotWidth(u.root.parentNode), height: u.height });
    }, 150);
  });

  // ---- Wind rose -----------------------------------------------------------------

  let roseRange = "24h";
  async function loadRose() {
    const latest = W.latest;
    const to = latest && latest.record ? latest.record.end : "now";
    const from = typeof to === "number" ? to - RANGES[roseRange] : "-" + roseRange;
    let rose;
    try {
      rose = await getJSON("/api/v1/windrose?from=" + from + "&to=" + to);
    } catch (e) {
      showProblem($("rose-legend"), "Cannot load the wind rose: " + e.message);
      return;
    }
    W.windrose = rose;
    drawRose(rose);
  }

  function drawRose(rose) {
    const g = $("rose");
    g.replaceChildren();
    const bands = rose.bands_kmh || [];
    const dirs = rose.directions || COMPASS;
    const total = rose.total || 0;
    const colors = ["--c-band0", "--c-band1", "--c-band2", "--c-band3", "--c-band4", "--c-band5", "--c-band6"].map(css);
    // Fraction of all records per direction, stacked by band.
    const perDir = dirs.map((_, d) => bands.map((_, b) => ((rose.counts[b] || [])[d] || 0) / (total || 1)));
    const maxFrac = Math.max(0.01, ...perDir.map((bs) => bs.reduce((a, x) => a + x, 0)));
    const R = 100;
    for (const r of [0.25, 0.5, 0.75, 1]) g.append(svg("circle", { cx: 0, cy: 0, r: r * R, class: "rose-ring" }));
    const half = ((360 / dirs.length) * 0.42 * Math.PI) / 180;
    const pt = (r, a) => (r * Math.sin(a)).toFixed(2) + " " + (-r * Math.cos(a)).toFixed(2);
    dirs.forEach((name, d) => {
      const a = ((d * 360) / dirs.length) * (Math.PI / 180);
      let inner = 0;
      perDir[d].forEach((f, b) => {
        if (f <= 0) return;
        const outer = inner + (f / maxFrac) * R;
        const path =
          "M" + pt(inner, a - half) + " L" + pt(outer, a - half) + " A" + outer + " " + outer + " 0 0 1 " + pt(outer, a + half) +
          " L" + pt(inner, a + half) + (inner > 0 ? " A" + inner + " " + inner + " 0 0 0 " + pt(inner, a - half) : "") + " Z";
        const p = svg("path", { d: path, fill: colors[Math.min(b, colors.length - 1)], class: "rose-wedge" });
        const title = svg("title", {});
        title.textContent = name + ", " + bandLabel(bands, b) + ": " + (f * 100).toFixed(1) + " %";
        p.append(title);
        g.append(p);
        inner = outer;
      });
      if (d % 4 === 0) {
        const t = svg("text", { x: (112 * Math.sin(a)).toFixed(1), y: (-112 * Math.cos(a) + 4).toFixed(1), class: "rose-label" });
        t.textContent = name;
        g.append(t);
      }
    });
    const legend = $("rose-legend");
    legend.replaceChildren(
      ...bands.map((_, b) => el("span", { class: "band band" + Math.min(b, 6) }, [bandLabel(bands, b)])),
      el("span", {}, [
        total === 0 ? "No wind records in this period." : "Calm " + ((100 * (rose.calm || 0)) / total).toFixed(1) + " % of " + total + " records; rings every " + (maxFrac * 25).toFixed(1) + " %",
      ]),
    );
  }
  function bandLabel(bands, b) {
    return b + 1 < bands.length ? bands[b] + "–" + bands[b + 1] + " km/h" : "≥ " + bands[b] + " km/h";
  }

  // ---- Climate -------------------------------------------------------------------
  // Rendered generically from the report's JSON (the same as `weatherd report --format
  // json`): its array of rows becomes a table, its other fields a summary, so the page
  // keeps up with the report without a second copy of its layout.

  function humanise(key) {
    const unit = SUFFIX_UNITS.find(([s]) => key.endsWith(s));
    let base = unit ? key.slice(0, -unit[0].length) : key;
    base = base.replace(/_/g, " ");
    base = base.charAt(0).toUpperCase() + base.slice(1);
    return unit ? base + " (" + unit[1] + ")" : base;
  }
  function cell(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(1);
    if (typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return v.slice(0, 16).replace("T", " ");
    if (typeof v === "object") return Object.entries(v).map(([k, x]) => humanise(k) + " " + cell(x)).join(", ");
    return String(v);
  }
  function flatten(obj, prefix, out) {
    for (const [k, v] of Object.entries(obj)) {
      const key = prefix ? prefix + "." + k : k;
      if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
      else if (!Array.isArray(v)) out[key] = v;
    }
    return out;
  }
  function table(rows) {
    const keys = [];
    for (const r of rows) for (const k of Object.keys(flatten(r, "", {}))) if (!keys.includes(k)) keys.push(k);
    const head = el("tr", {}, keys.map((k) => el("th", { scope: "col" }, [humanise(k.replace(/\./g, " "))])));
    const body = rows.map((r) => {
      const f = flatten(r, "", {});
      return el("tr", {}, keys.map((k) => el("td", {}, [cell(f[k])])));
    });
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }
  function renderReport(container, report) {
    const parts = [];
    const scalars = {};
    for (const [k, v] of Object.entries(report)) {
      if (Array.isArray(v) && v.length && typeof v[0] === "object") {
        parts.push(el("h4", {}, [humanise(k)]), table(v));
      } else if (v && typeof v === "object" && !Array.isArray(v)) {
        parts.push(el("h4", {}, [humanise(k)]), summary(flatten(v, "", {})));
      } else {
        scalars[k] = v;
      }
    }
    container.replaceChildren(summary(scalars), ...parts);
  }
  function summary(obj) {
    const dl = el("dl", { class: "summary" });
    for (const [k, v] of Object.entries(obj)) dl.append(el("dt", {}, [humanise(k.replace(/\./g, " "))]), el("dd", {}, [cell(v)]));
    return dl;
  }
  // NOAA-style tables for the report module's JSON (`weatherd report --format json`:
  // MonthReport {kind: "month", days, summary}, YearReport {kind: "year", months,
  // summary}, StationRecords {kind: "records", ...}); anything else falls back to the
  // generic rendering above.
  function hhmm(x) {
    return x && x.at_local ? x.at_local.slice(11, 16) : "";
  }
  function ext(x) {
    return x ? x.value : null;
  }
  function extDate(x) {
    return x && (x.date || (x.at_local || "").slice(0, 10)) ? (x.date || x.at_local.slice(0, 10)).slice(5) : "";
  }
  function noaaTable(head, rows, foot) {
    // Measurements with one decimal throughout (0.0 mm, not 0); the first column is a label.
    const text = (c, i) => (c === null || c === undefined ? "–" : typeof c === "number" && i > 0 ? c.toFixed(1) : String(c));
    const tr = (cells, tag) => el("tr", {}, cells.map((c, i) => el(tag, tag === "th" ? { scope: "col" } : {}, [text(c, i)])));
    return el("table", { class: "noaa" }, [
      el("thead", {}, [tr(head, "th")]),
      el("tbody", {}, rows.map((r) => tr(r, "td"))),
      el("tfoot", {}, foot ? [tr(foot, "td")] : []),
    ]);
  }
  function thresholds(summary) {
    const lines = [];
    const add = (list, words) => (list || []).forEach((t) => lines.push(el("li", {}, [words(t.threshold) + ": " + t.days])));
    add(summary.days_rain_at_least_mm, (x) => "Days with rain ≥ " + x + " mm");
    add(summary.days_max_at_least_c, (x) => "Days with high ≥ " + x + " °C");
    add(summary.days_max_at_most_c, (x) => "Days with high ≤ " + x + " °C");
    add(summary.days_min_at_most_c, (x) => "Days with low ≤ " + x + " °C");
    return el("ul", { class: "thresholds" }, lines);
  }
  function renderMonth(box, r) {
    const b = r.basis || r;
    const s = r.summary || {};
    const head = ["Day", "Mean °C", "High", "Time", "Low", "Time", "HDD", "CDD", "Rain mm", "Wind km/h", "Gust", "Time", "Dir"];
    const rows = r.days.map((d) => [
      d.day, d.temperature_mean_c, ext(d.temperature_max), hhmm(d.temperature_max), ext(d.temperature_min), hhmm(d.temperature_min),
      d.heating_degree_days, d.cooling_degree_days, d.rain_mm, d.wind_speed_mean_kmh, ext(d.wind_gust_max), hhmm(d.wind_gust_max), d.wind_dir_dominant,
    ]);
    const foot = [
      "Month", s.temperature_mean_c, ext(s.temperature_max), extDate(s.temperature_max), ext(s.temperature_min), extDate(s.temperature_min),
      s.heating_degree_days, s.cooling_degree_days, s.rain_mm, s.wind_speed_mean_kmh, ext(s.wind_gust_max), extDate(s.wind_gust_max), s.wind_dir_dominant,
    ];
    box.replaceChildren(
      el("h4", {}, ["Climatological summary for " + r.month + " (" + (b.time_zone || tz()) + ")"]),
      el("div", { class: "scroll" }, [noaaTable(head, rows, foot)]),
      el("p", { class: "hint" }, [
        "Heating (HDD) and cooling (CDD) degree days from " + b.heating_base_c + " °C and " + b.cooling_base_c + " °C. Days with data: " + (s.days_with_data ?? "–") + ".",
      ]),
      thresholds(s),
    );
  }
  function renderYear(box, r) {
    const s = r.summary || {};
    const head = ["Month", "Mean °C", "Mean high", "Mean low", "High", "Date", "Low", "Date", "HDD", "CDD", "Rain mm", "Wettest day", "Date", "Wind km/h", "Gust", "Date", "Dir"];
    const line = (name, m) => [
      name, m.temperature_mean_c, m.temperature_max_mean_c, m.temperature_min_mean_c, ext(m.temperature_max), extDate(m.temperature_max),
      ext(m.temperature_min), extDate(m.temperature_min), m.heating_degree_days, m.cooling_degree_days, m.rain_mm, ext(m.rain_day_max),
      extDate(m.rain_day_max), m.wind_speed_mean_kmh, ext(m.wind_gust_max), extDate(m.wind_gust_max), m.wind_dir_dominant,
    ];
    box.replaceChildren(
      el("h4", {}, ["Climatological summary for " + r.year + " (" + ((r.basis || r).time_zone || tz()) + ")"]),
      el("div", { class: "scroll" }, [noaaTable(head, r.months.map((m) => line(m.month.slice(5), m)), line("Year", s))]),
      thresholds(s),
    );
  }
  function renderRecords(box, r) {
    const when = (x) => (x ? (x.at_local ? x.at_local.slice(0, 16).replace("T", " ") : x.date) : "");
    const rows = [
      ["Highest temperature", ext(r.temperature_max), "°C", when(r.temperature_max)],
      ["Lowest temperature", ext(r.temperature_min), "°C", when(r.temperature_min)],
      ["Warmest day (mean)", ext(r.warmest_day), "°C", when(r.warmest_day)],
      ["Coldest day (mean)", ext(r.coldest_day), "°C", when(r.coldest_day)],
      ["Wettest day", ext(r.rain_day_max), "mm", when(r.rain_day_max)],
      ["Wettest month", ext(r.rain_month_max), "mm", when(r.rain_month_max)],
      ["Highest rain rate", ext(r.rain_rate_max), "mm/h", when(r.rain_rate_max)],
      ["Strongest gust", ext(r.wind_gust_max), "km/h", when(r.wind_gust_max)],
    ];
    box.replaceChildren(
      el("table", { class: "records" }, [
        el("tbody", {}, rows.map(([what, v, unit, at]) => el("tr", {}, [el("th", { scope: "row" }, [what]), el("td", {}, [v === null ? "–" : v.toFixed(1) + " " + unit]), el("td", {}, [at || ""])]))),
      ]),
      el("p", { class: "hint" }, ["From " + (r.first_date || "–") + " to " + (r.last_date || "–") + ", " + (r.days_with_data ?? 0) + " days with data."]),
    );
  }
  async function loadClimate(kind) {
    const box = $("climate-report");
    const q = kind === "year" ? "year=" + $("climate-year").value : "month=" + $("climate-month").value;
    try {
      const r = await getJSON("/api/v1/climate?" + q);
      if (r.kind === "month" && Array.isArray(r.days)) renderMonth(box, r);
      else if (r.kind === "year" && Array.isArray(r.months)) renderYear(box, r);
      else renderReport(box, r);
    } catch (e) {
      showProblem(box, "Cannot load the climate report: " + e.message);
    }
  }
  async function loadRecords() {
    const box = $("climate-records");
    try {
      const rec = await getJSON("/api/v1/climate/records");
      if (rec && rec.kind === "records") renderRecords(box, rec);
      else renderReport(box, rec);
    } catch (e) {
      showProblem(box, "Cannot load the station records: " + e.message);
    }
  }
  function stationDate(t) {
    // YYYY-MM-DD of epoch t in the station's time zone.
    const p = new Intl.DateTimeFormat("en-CA", { timeZone: tz(), year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(new Date(t * 1000));
    const g = (type) => p.find((x) => x.type === type).value;
    return g("year") + "-" + g("month") + "-" + g("day");
  }

  // ---- Data (CSV) ----------------------------------------------------------------

  // Epoch seconds of 00:00 station time on the local date "YYYY-MM-DD".
  function offsetSeconds(t) {
    const name = new Intl.DateTimeFormat("en-US", { timeZone: tz(), timeZoneName: "longOffset" })
      .formatToParts(new Date(t * 1000))
      .find((x) => x.type === "timeZoneName").value; // "GMT+01:00" or "GMT"
    const m = /([+-])(\d\d):(\d\d)/.exec(name);
    return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
  }
  function localMidnight(date) {
    const [y, mo, d] = date.split("-").map(Number);
    const guess = Date.UTC(y, mo - 1, d) / 1000;
    let t = guess - offsetSeconds(guess);
    t = guess - offsetSeconds(t); // settle across a DST change
    return t;
  }
  function nextDay(date) {
    const [y, m, d] = date.split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d) + 86400000).toISOString().slice(0, 10);
  }
  // The link's URL follows the form: local days [from, to], "to" included.
  function updateCsvLink() {
    const from = $("csv-from").value, to = $("csv-to").value;
    const link = $("csv-link");
    const ok = from && to && to >= from;
    link.classList.toggle("disabled", !ok);
    if (!ok) {
      link.removeAttribute("href");
      return;
    }
    link.href =
      "/api/v1/records.csv?from=" + localMidnight(from) + "&to=" + localMidnight(nextDay(to)) +
      "&every=" + $("csv-every").value + "&tz=" + $("csv-tz").value;
  }
  function setupCsv() {
    const form = $("csv-form");
    form.addEventListener("input", updateCsvLink);
    form.addEventListener("change", updateCsvLink);
    form.addEventListener("submit", (e) => {
      e.preventDefault(); // Enter in a field: download, as the link would
      updateCsvLink();
      if ($("csv-link").href) $("csv-link").click();
    });
    updateCsvLink();
  }

  // ---- Health --------------------------------------------------------------------

  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const u = ["B", "KB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return n.toFixed(i ? 1 : 0) + " " + u[i];
  }
  function duration(s) {
    if (s === null || s === undefined) return "–";
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    return (d ? d + " d " : "") + (d || h ? h + " h " : "") + m + " min";
  }
  async function loadHealth() {
    let h;
    try {
      h = await getJSON("/api/v1/health");
    } catch (e) {
      showProblem($("health-summary"), "Cannot load the health report: " + e.message);
      return;
    }
    $("health-summary").replaceChildren(
      ...[
        ["Version", h.version],
        ["Up for", duration(h.uptime_s)],
        ["Clock", h.clock_synchronised ? "synchronised" : "NOT synchronised"],
        ["Disk free", bytes(h.disk_free_bytes)],
        ["Database", bytes(h.database_bytes)],
      ].flatMap(([k, v]) => [el("dt", {}, [k]), el("dd", { class: k === "Clock" && !h.clock_synchronised ? "bad" : "" }, [String(v)])]),
    );
    const sensors = (h.sensors || []).map((s) => ({ sensor: s.name, last_reading: fmtLocal(s.last_reading, true), faults_in_24_h: s.faults_24h }));
    $("health-sensors").replaceChildren(sensors.length ? table(sensors) : el("p", {}, ["No sensors."]));
    const dests = (h.destinations || []).map((d) => ({
      destination: d.name, type: d.type, state: d.state, backlog: d.backlog,
      last_success: fmtLocal(d.last_success, true), last_error: d.last_error || "",
    }));
    $("health-destinations").replaceChildren(dests.length ? table(dests) : el("p", {}, ["No upload destinations configured."]));
  }

  // ---- Start ---------------------------------------------------------------------

  W.reloadPlots = () => {
    loadPlots();
  };

  async function start() {
    try {
      W.station = await getJSON("/api/v1/station");
    } catch (e) {
      reportLive(e);
      return;
    }
    renderStation(W.station);
    try {
      renderLatest(await getJSON("/api/v1/latest"));
    } catch (e) {
      reportLive(e);
    }
    rangeButtons("plot-ranges", (r) => { W.range = r; loadPlots(); });
    rangeButtons("rose-ranges", (r) => { roseRange = r; loadRose(); });
    await loadPlots();
    startLive();
    setInterval(tickClock, 1000);
    loadRose();
    const now = W.latest ? W.latest.now : Math.floor(Date.now() / 1000);
    const today = stationDate(now);
    $("climate-month").value = today.slice(0, 7);
    $("climate-year").value = today.slice(0, 4);
    $("csv-to").value = today;
    $("csv-from").value = stationDate(now - 6 * 86400);
    $("climate-form").addEventListener("submit", (e) => {
      e.preventDefault();
      loadClimate(e.submitter && e.submitter.dataset.kind === "year" ? "year" : "month");
    });
    setupCsv();
    loadClimate("month");
    loadRecords();
    loadHealth();
    setInterval(loadHealth, 60000);
  }
  start();
})();
