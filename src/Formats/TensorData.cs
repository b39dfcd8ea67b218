namespace Mlx.Formats;

/// <summary>A tensor to write: little-endian, C-order (row-major) bytes of <see cref="DType"/>.</summary>
/// <param name="Name">Tensor name (ignored by <see cref="NpyWriter"/>).</param>
/// <param name="DType">Element type.</param>
/// <param name="Shape">Shape in row-major order.</param>
/// <param name="Data">Exactly product(Shape) * item size bytes.</param>
public readonly record struct TensorData(string Name, TensorDType DType, long[] Shape, ReadOnlyMemory<byte> Data)
{
    /// <summary>Checks the shape and that the byte count matches it; throws ArgumentException otherwise.</summary>
    public void Validate()
    {
        if (Name is null)
        {
            throw new ArgumentException("tensor name is null");
        }
        if (Shape is null || !Internal.Checked.TryElementCount(Shape, out long count) || !Internal.Checked.TryMultiply(count, DType.ItemSize(), out long bytes))
        {
            throw new ArgumentException($"tensor '{Name}': invalid shape");
        }
        if (bytes != Data.Length)
        {
            throw new ArgumentException($"tensor '{Name}': {DType.MlxName()} shape [{string.Join(", ", Shape)}] needs {bytes} bytes but {Data.Length} were given");
        }
    }
}
