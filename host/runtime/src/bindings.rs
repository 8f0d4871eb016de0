//! The one place the host generates bindings from `wit/`.

pub mod router {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "router-component",
    });
}

pub mod approval {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "approval-component",
    });
}

pub mod monitor {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "monitor-component",
    });
}
