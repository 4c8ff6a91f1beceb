// GraphiQL on /graphql, from the vendored files beside this one (no CDN, no inline script).
// Requests go to this same URL with the page's cookies (a portal session works); a token goes
// in the Headers tab, which is not kept in the browser's storage.
(function () {
  "use strict";
  var DEFAULT_QUERY = [
    "# usage-metrics: usage of the portal's datasets (docs/graphql.md).",
    "# `analytics` is public; every other field needs a token in the Headers tab:",
    '#   {"Authorization": "Bearer <token>"}',
    "# Ctrl-Enter runs the query; the Docs panel describes every field.",
    "",
    "{",
    "  analytics {",
    "    provider",
    "    scriptUrl",
    "  }",
    "}",
    "",
  ].join("\n");
  var url = window.location.origin + window.location.pathname;
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: url }),
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    })
  );
})();
