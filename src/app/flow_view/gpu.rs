//! The GPU path: the WGSL shader drawn in an egui paint callback, the flow uploaded once per flow
//! id as an `Rg32Float` texture.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use eframe::egui::{self, Rect};
use eframe::egui_wgpu::{self, wgpu};

use super::*;

/// The shader's uniforms; the layout of `Params` in the shader.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(super) struct GpuParams {
    rect_min_px: [f32; 2],
    rect_size_px: [f32; 2],
    flow_size: [f32; 2],
    mode: u32,
    opacity: f32,
    scale: f32,
    spacing: f32,
    pixels_per_point: f32,
    linear_output: u32,
}

pub(super) const PARAMS_SIZE: u64 = std::mem::size_of::<GpuParams>() as u64;

/// What egui's render pass looks like, which the pipeline must match: eframe's
/// `NativeOptions::multisampling` and depth/stencil buffer bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowViewTarget {
    pub msaa_samples: u32,
    pub depth_format: Option<wgpu::TextureFormat>,
}

impl Default for FlowViewTarget {
    /// eframe's defaults: no multisampling, no depth buffer.
    fn default() -> Self {
        Self {
            msaa_samples: 1,
            depth_format: None,
        }
    }
}

impl FlowViewTarget {
    pub fn from_native_options(options: &eframe::NativeOptions) -> Self {
        Self {
            msaa_samples: u32::from(options.multisampling).max(1),
            depth_format: egui_wgpu::depth_format_from_bits(
                options.depth_buffer,
                options.stencil_buffer,
            ),
        }
    }
}

struct FlowTexture {
    _texture: wgpu::Texture,
    bind_group: wgpu::BindGroup,
    size: [u32; 2],
    /// The flow's own motion scale, computed once at upload.
    scale: f32,
    last_used: u64,
}

/// GPU resources of the flow overlays, kept in egui_wgpu's `callback_resources`.
pub struct FlowViewRenderer {
    pipeline: wgpu::RenderPipeline,
    uniform_layout: wgpu::BindGroupLayout,
    texture_layout: wgpu::BindGroupLayout,
    uniform_buffer: wgpu::Buffer,
    uniform_bind_group: wgpu::BindGroup,
    /// Bytes between the uniforms of two overlays (the device's dynamic offset alignment).
    uniform_stride: u64,
    uniform_slots: u64,
    linear_output: bool,
    /// This render's overlays: callback key to uniform slot, and the uniforms of each slot.
    slots: HashMap<u64, u32>,
    slot_params: Vec<GpuParams>,
    /// Set by `paint`; the next `prepare` then knows a new render has begun.
    painted: AtomicBool,
    render_count: u64,
    textures: HashMap<u64, FlowTexture>,
    uploads: u64,
}

impl FlowViewRenderer {
    /// Builds the pipeline for egui's render target. Validation errors come back as errors
    /// rather than wgpu's default panic.
    pub fn new(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        target: FlowViewTarget,
    ) -> Result<Self, FlowViewError> {
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let renderer = Self::build(device, target_format, target);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(FlowViewError::Gpu(error.to_string()));
        }
        Ok(renderer)
    }

    fn build(
        device: &wgpu::Device,
        target_format: wgpu::TextureFormat,
        target: FlowViewTarget,
    ) -> Self {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("flow_view"),
            source: wgpu::ShaderSource::Wgsl(FLOW_VIEW_SHADER.into()),
        });
        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("flow_view_uniforms"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: true,
                    min_binding_size: NonZeroU64::new(PARAMS_SIZE),
                },
                count: None,
            }],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("flow_view_flow"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    // Rg32Float is only filterable with a feature; the shader filters itself.
                    sample_type: wgpu::TextureSampleType::Float { filterable: false },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            }],
        });
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("flow_view"),
            bind_group_layouts: &[Some(&uniform_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("flow_view"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: target.depth_format.map(|format| wgpu::DepthStencilState {
                format,
                depth_write_enabled: Some(false),
                depth_compare: Some(wgpu::CompareFunction::Always),
                stencil: wgpu::StencilState::default(),
                bias: wgpu::DepthBiasState::default(),
            }),
            multisample: wgpu::MultisampleState {
                count: target.msaa_samples.max(1),
                mask: !0,
                alpha_to_coverage_enabled: false,
            },
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                // Premultiplied alpha, as egui blends.
                targets: &[Some(wgpu::ColorTargetState {
                    format: target_format,
                    blend: Some(wgpu::BlendState {
                        color: wgpu::BlendComponent {
                            src_factor: wgpu::BlendFactor::One,
                            dst_factor: wgpu::BlendFactor::OneMinusSrcAlpha,
                            operation: wgpu::BlendOperation::Add,
                        },
                        alpha: wgpu::BlendComponent {
                            src_factor: wgpu::BlendFactor::OneMinusDstAlpha,
                            dst_factor: wgpu::BlendFactor::One,
                            operation: wgpu::BlendOperation::Add,
                        },
                    }),
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let alignment = u64::from(device.limits().min_uniform_buffer_offset_alignment).max(1);
        let uniform_stride = PARAMS_SIZE.div_ceil(alignment) * alignment;
        let uniform_slots = 4;
        let (uniform_buffer, uniform_bind_group) =
            Self::uniform_storage(device, &uniform_layout, uniform_stride, uniform_slots);
        Self {
            pipeline,
            uniform_layout,
            texture_layout,
            uniform_buffer,
            uniform_bind_group,
            uniform_stride,
            uniform_slots,
            linear_output: target_format.is_srgb(),
            slots: HashMap::new(),
            slot_params: Vec::new(),
            painted: AtomicBool::new(false),
            render_count: 0,
            textures: HashMap::new(),
            uploads: 0,
        }
    }

    fn uniform_storage(
        device: &wgpu::Device,
        layout: &wgpu::BindGroupLayout,
        stride: u64,
        slots: u64,
    ) -> (wgpu::Buffer, wgpu::BindGroup) {
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("flow_view_uniforms"),
            size: stride * slots,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("flow_view_uniforms"),
            layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: NonZeroU64::new(PARAMS_SIZE),
                }),
            }],
        });
        (buffer, bind_group)
    }

    /// How many times a flow was uploaded to the GPU (once per new flow id).
    pub fn uploads(&self) -> u64 {
        self.uploads
    }

    /// Flows currently held on the GPU.
    pub fn cached_flows(&self) -> usize {
        self.textures.len()
    }

    fn upload(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        flow: &FlowField,
    ) -> FlowTexture {
        let size = wgpu::Extent3d {
            width: flow.width as u32,
            height: flow.height as u32,
            depth_or_array_layers: 1,
        };
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("flow_view_flow"),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rg32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let texels: Vec<[f32; 2]> = flow
            .grid
            .iter()
            .map(|g| g.map(|v| if v.is_finite() { v } else { INVALID_UPLOAD }))
            .collect();
        queue.write_texture(
            texture.as_image_copy(),
            bytemuck::cast_slice(&texels),
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(size.width * 8),
                rows_per_image: Some(size.height),
            },
            size,
        );
        let view = texture.create_view(&wgpu::TextureViewDescriptor::default());
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("flow_view_flow"),
            layout: &self.texture_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&view),
            }],
        });
        self.uploads += 1;
        FlowTexture {
            _texture: texture,
            bind_group,
            size: [size.width, size.height],
            scale: flow.motion_scale(),
            last_used: self.render_count,
        }
    }

    /// Drops the least recently used flow not needed by this render, when the cache is full.
    fn evict(&mut self) {
        if self.textures.len() < MAX_CACHED_FLOWS {
            return;
        }
        let oldest = self
            .textures
            .iter()
            .filter(|(_, t)| t.last_used < self.render_count)
            .min_by_key(|(_, t)| t.last_used)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.textures.remove(&id);
        }
    }

    fn prepare_overlay(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        pixels_per_point: f32,
        overlay: &FlowCallback,
    ) {
        // All prepares of a render come before its paints, so a paint since the last prepare
        // means this is a new render and last render's slots are free.
        if self.painted.swap(false, Ordering::Relaxed) || self.slot_params.len() >= 64 {
            self.slots.clear();
            self.slot_params.clear();
            self.render_count += 1;
        }
        let flow = &overlay.flow;
        if let Err(e) = flow.check() {
            log::warn!("flow overlay not drawn: {e}");
            return;
        }
        let max_side = device.limits().max_texture_dimension_2d as usize;
        if flow.width > max_side || flow.height > max_side {
            log::warn!(
                "flow overlay not drawn: a {}x{} flow exceeds the GPU's {max_side} texture limit",
                flow.width,
                flow.height
            );
            return;
        }
        let size = [flow.width as u32, flow.height as u32];
        if self
            .textures
            .get(&overlay.flow_id)
            .is_none_or(|t| t.size != size)
        {
            self.textures.remove(&overlay.flow_id);
            self.evict();
            let texture = self.upload(device, queue, flow);
            self.textures.insert(overlay.flow_id, texture);
        }
        let Some(texture) = self.textures.get_mut(&overlay.flow_id) else {
            return;
        };
        texture.last_used = self.render_count;
        let flow_scale = texture.scale;

        let ppp = clean_pixels_per_point(pixels_per_point);
        let rect = overlay.rect;
        let params = GpuParams {
            rect_min_px: [rect.min.x * ppp, rect.min.y * ppp],
            rect_size_px: [rect.width() * ppp, rect.height() * ppp],
            flow_size: [flow.width as f32, flow.height as f32],
            mode: overlay.style.mode.shader_index(),
            opacity: overlay.style.opacity,
            scale: clean_scale(overlay.max_motion, || flow_scale),
            spacing: overlay.style.spacing,
            pixels_per_point: ppp * overlay.style.pixels_per_point,
            linear_output: u32::from(self.linear_output),
        };
        let slot = self.slot_params.len() as u64;
        self.slot_params.push(params);
        self.slots.insert(overlay.key, slot as u32);
        if slot >= self.uniform_slots {
            // Grow, and rewrite this render's earlier overlays into the new buffer.
            self.uniform_slots = (slot + 1).next_power_of_two();
            let (buffer, bind_group) = Self::uniform_storage(
                device,
                &self.uniform_layout,
                self.uniform_stride,
                self.uniform_slots,
            );
            self.uniform_buffer = buffer;
            self.uniform_bind_group = bind_group;
            for (i, p) in self.slot_params.iter().enumerate() {
                queue.write_buffer(
                    &self.uniform_buffer,
                    i as u64 * self.uniform_stride,
                    bytemuck::bytes_of(p),
                );
            }
        } else {
            queue.write_buffer(
                &self.uniform_buffer,
                slot * self.uniform_stride,
                bytemuck::bytes_of(&params),
            );
        }
    }

    fn paint_overlay(&self, render_pass: &mut wgpu::RenderPass<'static>, overlay: &FlowCallback) {
        self.painted.store(true, Ordering::Relaxed);
        let (Some(&slot), Some(texture)) = (
            self.slots.get(&overlay.key),
            self.textures.get(&overlay.flow_id),
        ) else {
            return;
        };
        let offset = u64::from(slot) * self.uniform_stride;
        let Ok(offset) = u32::try_from(offset) else {
            return;
        };
        render_pass.set_pipeline(&self.pipeline);
        render_pass.set_bind_group(0, &self.uniform_bind_group, &[offset]);
        render_pass.set_bind_group(1, &texture.bind_group, &[]);
        render_pass.draw(0..3, 0..1);
    }
}

/// Registers the overlay renderer with egui's wgpu renderer (once, at start-up; calling it again
/// replaces it). Assumes eframe's default render target (no MSAA, no depth buffer); see
/// [`register_with_target`] otherwise.
pub fn register(render_state: &egui_wgpu::RenderState) -> Result<(), FlowViewError> {
    register_with_target(render_state, FlowViewTarget::default())
}

pub fn register_with_target(
    render_state: &egui_wgpu::RenderState,
    target: FlowViewTarget,
) -> Result<(), FlowViewError> {
    let renderer = FlowViewRenderer::new(&render_state.device, render_state.target_format, target)?;
    render_state
        .renderer
        .write()
        .callback_resources
        .insert(renderer);
    Ok(())
}

/// Unique per paint callback, to find its uniforms in `paint`.
pub(super) static NEXT_CALLBACK_KEY: AtomicU64 = AtomicU64::new(0);

pub(super) struct FlowCallback {
    pub key: u64,
    pub rect: Rect,
    pub flow: Arc<FlowField>,
    pub flow_id: u64,
    pub style: OverlayStyle,
    pub max_motion: Option<f32>,
}

impl egui_wgpu::CallbackTrait for FlowCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen_descriptor: &egui_wgpu::ScreenDescriptor,
        _egui_encoder: &mut wgpu::CommandEncoder,
        callback_resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        match callback_resources.get_mut::<FlowViewRenderer>() {
            Some(renderer) => {
                renderer.prepare_overlay(device, queue, screen_descriptor.pixels_per_point, self)
            }
            None => log::warn!("flow overlay not drawn: flow_view::register was not called"),
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        callback_resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(renderer) = callback_resources.get::<FlowViewRenderer>() {
            renderer.paint_overlay(render_pass, self);
        }
    }
}
