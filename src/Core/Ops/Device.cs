namespace Mlx;

public enum DeviceType
{
    Cpu, Gpu,
}

/// <summary>A compute device, as <c>mlx.core.Device</c>.</summary>
public readonly record struct Device(DeviceType Type, int Index = 0)
{
    public static Device Cpu => new(DeviceType.Cpu);

    public static Device Gpu => new(DeviceType.Gpu);

    public override string ToString() => $"Device({(Type == DeviceType.Cpu ? "cpu" : "gpu")}, {Index})";
}

/// <summary>An ordered queue of work on one device, as <c>mlx.core.Stream</c>.</summary>
public sealed record Stream(int Index, Device Device);

/// <summary>Where an op runs: a stream or a device (its default stream). Null means the default device.</summary>
public readonly struct StreamOrDevice
{
    private StreamOrDevice(Stream? stream, Device? device)
    {
        Stream = stream;
        Device = device;
    }

    public Stream? Stream { get; }
    public Device? Device { get; }

    public static implicit operator StreamOrDevice(Stream stream) => new(stream, null);

    public static implicit operator StreamOrDevice(Device device) => new(null, device);

    public Device Resolve() => Stream?.Device ?? Device ?? Mx.DefaultDevice;
}
