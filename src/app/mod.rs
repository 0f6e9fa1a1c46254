pub mod flow_view;
