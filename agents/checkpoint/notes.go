package checkpoint

// notes is the Markdown of the reference page's "Notes".
const notes = `TODO`
