// Starts the router once every page has registered.
"use strict";
UI.start();
