namespace Mlx.Backends.Tests;

/// <summary>
/// Binds the suites to a backend. The GPU runs on ILGPU's CPU accelerator unless MLX_GPU_TESTS=gpu asks for the real
/// device (CUDA, else an OpenCL GPU), as scripts/gpu-check.sh does.
/// </summary>
internal static class Backends
{
    private static readonly object s_lock = new();
    private static bool s_configured;

    public static Device Gpu
    {
        get
        {
            lock (s_lock)
            {
                if (!s_configured)
                {
                    Mx.SetGpuBackend(Environment.GetEnvironmentVariable("MLX_GPU_TESTS") == "gpu" ? GpuBackendPreference.Auto : GpuBackendPreference.CpuAccelerator);
                    s_configured = true;
                }
            }
            return Device.Gpu;
        }
    }
}

public sealed class CpuElementwise : ElementwiseSuite
{
    protected override Device Device => Device.Cpu;
}

public sealed class GpuElementwise : ElementwiseSuite
{
    protected override Device Device => Backends.Gpu;
}
