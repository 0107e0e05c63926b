"""The demo brand: HQ, 32 regional centers, warehouses and dealers."""
